"""Entry module for ``celery -A <package>.worker worker``: the app built from the environment."""

from __future__ import annotations

from .app import app_from_env

app = app_from_env()
