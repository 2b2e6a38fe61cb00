"""RabbitMQ's list query parameters: ``sort``, ``sort_reverse``, ``columns``, ``name`` with
``use_regex``, ``page``/``page_size`` (the paged envelope) and ``disable_stats``.

Handlers build the full list of JSON objects and hand it to ``list_response``; filtering,
sorting and paging happen here, once, the same way for every resource.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from leveret.http.errors import bad_request

K = TypeVar("K")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
# Keys that disable_stats drops (RabbitMQ leaves out every rate and counter).
STATS_KEYS = frozenset(
    {
        "message_stats",
        "messages_details",
        "messages_ready_details",
        "messages_unacknowledged_details",
        "recv_oct_details",
        "send_oct_details",
        "reductions_details",
        "garbage_collection",
        "backing_queue_status",
    }
)


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def stats_disabled(request: web.Request) -> bool:
    return flag(request, "disable_stats")


def _lookup(item: Mapping[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Missing values sort first; numbers before text, so mixed columns never raise.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, str(value))


def _columns(item: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for dotted in columns:
        parts = dotted.split(".")
        if not _has(item, parts):
            continue
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _lookup(item, dotted)
    return picked


def _has(item: Mapping[str, Any], parts: Sequence[str]) -> bool:
    value: Any = item
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    return value


def _name_filter(request: web.Request) -> re.Pattern[str] | str | None:
    # As RabbitMQ: ``name`` filters only a paged request; without ``page`` it is ignored.
    name = request.query.get("name")
    if not name or "page" not in request.query:
        return None
    if flag(request, "use_regex"):
        try:
            return re.compile(name)
        except re.error as error:
            raise bad_request(f"invalid regular expression {name!r}: {error}") from None
    return name


def _matches(item: Mapping[str, Any], wanted: re.Pattern[str] | str) -> bool:
    name = item.get("name")
    if not isinstance(name, str):
        return False
    if isinstance(wanted, str):
        return wanted in name
    return wanted.search(name) is not None


def shape_items(request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply disable_stats, name, sort and columns (everything but paging)."""
    if stats_disabled(request):
        items = [{k: v for k, v in item.items() if k not in STATS_KEYS} for item in items]
    wanted = _name_filter(request)
    if wanted is not None:
        items = [item for item in items if _matches(item, wanted)]
    sort = request.query.get("sort")
    reverse = flag(request, "sort_reverse")
    if sort:
        items = sorted(items, key=lambda item: _sort_key(_lookup(item, sort)), reverse=reverse)
    elif reverse:
        items = list(reversed(items))
    columns = [c for c in request.query.get("columns", "").split(",") if c]
    if columns:
        items = [_columns(item, columns) for item in items]
    return items


def _page(request: web.Request, filtered: int) -> tuple[int, int, int] | None:
    """(page, page_size, page_count) when ``page`` is asked for, else None."""
    if "page" not in request.query:
        return None
    page = _int_param(request, "page", 1)
    page_size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE)
    if page < 1:
        raise bad_request("page must be a positive integer")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise bad_request(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    page_count = max(1, math.ceil(filtered / page_size))
    if page > page_count:
        raise bad_request("page_out_of_range")
    return page, page_size, page_count


def _envelope(
    paging: tuple[int, int, int], chunk: list[dict[str, Any]], filtered: int, total: int
) -> web.Response:
    page, page_size, page_count = paging
    return web.json_response(
        {
            "filtered_count": filtered,
            "item_count": len(chunk),
            "items": chunk,
            "page": page,
            "page_count": page_count,
            "page_size": page_size,
            "total_count": total,
        }
    )


def list_response(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    """The JSON list, or RabbitMQ's paged envelope when ``page`` is given."""
    total = len(items)
    shaped = shape_items(request, items)
    paging = _page(request, len(shaped))
    if paging is None:
        return web.json_response(shaped)
    page, page_size, _ = paging
    start = (page - 1) * page_size
    return _envelope(paging, shaped[start : start + page_size], len(shaped), total)


# Sort fields known without building an object's JSON: its identity.
IDENTITY_FIELDS = ("name", "vhost")


def named_list_response(
    request: web.Request,
    keys: list[K],
    identity: Callable[[K], dict[str, str]],
    build: Callable[[list[K]], list[dict[str, Any]]],
) -> web.Response:
    """``list_response`` for many objects whose JSON is costly (10,000 queues): when the
    request filters and sorts only by identity (``name``, ``vhost``), the page is chosen
    from ``keys`` first and ``build`` shapes only that page. ``identity(key)`` gives the
    object's ``name`` and ``vhost``."""
    sort = request.query.get("sort") or ""
    if sort and sort not in IDENTITY_FIELDS:
        return list_response(request, build(keys))
    total = len(keys)
    wanted = _name_filter(request)
    if wanted is not None:
        keys = [key for key in keys if _matches(identity(key), wanted)]
    reverse = flag(request, "sort_reverse")
    if sort:
        keys = sorted(keys, key=lambda key: identity(key)[sort], reverse=reverse)
    elif reverse:
        keys = list(reversed(keys))
    paging = _page(request, len(keys))
    if paging is not None:
        page, page_size, _ = paging
        chosen = keys[(page - 1) * page_size : page * page_size]
    else:
        chosen = keys
    items = build(chosen)
    if stats_disabled(request):
        items = [{k: v for k, v in item.items() if k not in STATS_KEYS} for item in items]
    columns = [c for c in request.query.get("columns", "").split(",") if c]
    if columns:
        items = [_columns(item, columns) for item in items]
    if paging is None:
        return web.json_response(items)
    return _envelope(paging, items, len(keys), total)


def item_response(request: web.Request, item: dict[str, Any]) -> web.Response:
    """One object (overview, a node, a vhost), with ``columns`` applied as RabbitMQ does."""
    columns = [c for c in request.query.get("columns", "").split(",") if c]
    if stats_disabled(request):
        item = {k: v for k, v in item.items() if k not in STATS_KEYS}
    return web.json_response(_columns(item, columns) if columns else item)
