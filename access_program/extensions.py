"""Unbound extension instances; bound to the app in create_app()."""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf import CSRFProtect

from access_program.db import db

__all__ = ["api", "csrf", "db", "limiter", "login_manager", "migrate"]

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
api = Api()
# No default limits: the access check is on the tool's hot path. Sign-in routes opt in.
limiter = Limiter(key_func=get_remote_address, default_limits=[])

#: The access decision's routes (access/api.py): a service asking many times a second, with a
#: token of its own and no rate limit; the limiter does not even look them up.
ACCESS_CHECK_ENDPOINTS = frozenset({"access_api.AccessById", "access_api.AccessByExternalId"})


@limiter.request_filter
def _is_access_check() -> bool:
    return request.endpoint in ACCESS_CHECK_ENDPOINTS
