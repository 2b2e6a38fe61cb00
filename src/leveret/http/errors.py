"""Errors as RabbitMQ's management API writes them: ``{"error": ..., "reason": ...}``.

Every failure, including ones aiohttp raises itself (unknown path, wrong method, oversize
body) and any bug in a handler, leaves as JSON with the right status; never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from leveret.broker.access import AccessError
from leveret.broker.admin.base import NotFound

log = logging.getLogger("leveret.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# RabbitMQ's "error" words per status, where the management plugin uses fixed ones.
_ERROR_WORDS = {
    400: "bad_request",
    401: "not_authorized",
    403: "not_authorised",
    404: "Object Not Found",
    405: "Method Not Allowed",
    413: "bad_request",
    415: "bad_request",
}


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with ``{"error", "reason"}``. The reason
    is text, or a list where RabbitMQ gives one (``["not_boolean", "yes"]``), whose items
    after the first are the offending JSON values as they were sent."""

    def __init__(self, status: int, reason: str | list[Any], error: str | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.error = error if error is not None else _ERROR_WORDS.get(status, "bad_request")


def bad_request(reason: str | list[Any]) -> ApiError:
    return ApiError(400, reason)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def json_error(
    status: int, error: str, reason: str | list[Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return json_error(error.status, error.error, error.reason)
    except NotFound:
        return json_error(404, "Object Not Found", "Not Found")
    except AccessError as error:  # refused by the access model: its text, on one line
        return json_error(400, "bad_request", " ".join(str(error).split()))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        reason = error.reason if error.status != 404 else "Not Found"
        return json_error(
            error.status,
            _ERROR_WORDS.get(error.status, error.reason.lower().replace(" ", "_")),
            reason,
            headers={k: v for k, v in error.headers.items() if k.lower() == "allow"},
        )
    except Exception as error:  # a bug: log it whole, answer without the traceback
        log.exception("management request %s %s failed", request.method, request.path)
        return json_error(500, "internal_error", type(error).__name__)
