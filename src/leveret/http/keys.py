"""Typed keys of the aiohttp application (what every handler reaches through the app)."""

from __future__ import annotations

from aiohttp import web

from leveret.http.node import ManagedNode

NODE = web.AppKey("leveret_node", ManagedNode)
