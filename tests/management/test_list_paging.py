"""Lists page, sort and filter the same way whichever path builds them (identity sorts
choose the page before any object is built; other sorts build everything first)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .conftest import Api, quote


@pytest.fixture
def five_queues(api: Api, unique_name: Callable[[str], str]) -> Iterator[str]:
    vhost = unique_name("paging")
    assert api.put(f"vhosts/{quote(vhost)}", json={}).status_code in (201, 204)
    api.put(
        f"permissions/{quote(vhost)}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    )
    for name in ("b-two", "a-one", "e-five", "c-three", "d-four"):
        reply = api.put(f"queues/{quote(vhost)}/{name}", json={"durable": False})
        assert reply.status_code in (201, 204)
    yield vhost
    api.delete(f"vhosts/{quote(vhost)}")


def _names(body: list[dict[str, object]]) -> list[object]:
    return [item["name"] for item in body]


def test_identity_sort_pages_and_filters(api: Api, five_queues: str) -> None:
    path = f"queues/{quote(five_queues)}"
    assert _names(api.get(path).json()) == ["a-one", "b-two", "c-three", "d-four", "e-five"]
    page = api.get(path, params={"page": 2, "page_size": 2, "sort": "name"}).json()
    assert _names(page["items"]) == ["c-three", "d-four"]
    assert (page["page"], page["page_count"], page["filtered_count"], page["total_count"]) == (
        2,
        3,
        5,
        5,
    )
    reverse = api.get(
        path, params={"page": 1, "page_size": 2, "sort": "name", "sort_reverse": "true"}
    ).json()
    assert _names(reverse["items"]) == ["e-five", "d-four"]
    filtered = api.get(
        path, params={"page": 1, "page_size": 10, "name": "^[ab]", "use_regex": "true"}
    ).json()
    assert _names(filtered["items"]) == ["a-one", "b-two"]
    assert (filtered["filtered_count"], filtered["total_count"]) == (2, 5)
    columns = api.get(path, params={"columns": "name,durable", "name": "three", "page": 1}).json()
    assert columns["items"] == [{"name": "c-three", "durable": False}]
    # Without ``page``, RabbitMQ ignores ``name``.
    assert len(api.get(path, params={"name": "three"}).json()) == 5
    assert api.get(path, params={"page": 4, "page_size": 2}).status_code == 400


def test_other_sorts_build_every_object_first(api: Api, five_queues: str) -> None:
    path = f"queues/{quote(five_queues)}"
    page = api.get(
        path, params={"page": 1, "page_size": 3, "sort": "durable", "columns": "name"}
    ).json()
    assert page["item_count"] == 3
    assert page["total_count"] == 5
