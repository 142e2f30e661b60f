"""Load test of the portal (issue 7 item 6): ``locustfile.py`` (the users) and ``run.py`` (headless runner)."""
