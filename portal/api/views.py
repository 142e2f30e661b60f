"""Seed 003's JSON API under /api/v1 (filled in by the API work)."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
