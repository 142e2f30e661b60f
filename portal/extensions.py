"""Flask extensions, created unbound; ``create_app`` binds them."""
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from portal.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage from config RATELIMIT_STORAGE_URI (memory:// by default, Redis when REDIS_URL is set); no default
# limits: routes opt in with @limiter.limit(...).
limiter = Limiter(key_func=get_remote_address)
