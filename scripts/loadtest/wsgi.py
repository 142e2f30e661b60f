"""gunicorn entry point for the load test (``gunicorn scripts.loadtest.wsgi:app``): the production app
(``PORTAL_ENV=production``, configured from the environment as ``wsgi.py`` is) with one change: the session
cookie is not marked Secure, because the bench talks plain HTTP on loopback (a client drops Secure cookies over
http; in production TLS ends in front of gunicorn)."""
from portal import create_app

app = create_app()
app.config["SESSION_COOKIE_SECURE"] = False
