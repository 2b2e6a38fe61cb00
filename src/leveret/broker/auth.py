"""Kept for importers of the old module: users and logins now live in broker.access."""

from __future__ import annotations

from leveret.broker.access import AccessControl, User, is_loopback

__all__ = ["AccessControl", "User", "is_loopback"]
