"""Smoke test of bench/micro.py: every micro-benchmark runs a few loops and does its job.

Nothing here looks at timings: the point is that the benchmarks keep working (and keep
measuring what they claim to) while the code they call changes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MICRO_PATH = Path(__file__).resolve().parents[2] / "bench" / "micro.py"

# What must be covered, and what each operation must be seen to have done (checked here
# independently of the expectations the benchmarks carry themselves).
EXPECTED: dict[str, dict[str, object]] = {
    "codec.frames.parse": {"frames": 64, "bodies": 21, "left_over": 0},
    "codec.method.decode_publish": {"name": "BasicPublish"},
    "codec.method.encode_deliver": {"name": "BasicDeliver"},
    "codec.deliver.frames": {"frame_types": [1, 2, 3]},
    "codec.props.encode": {"roundtrip": True},
    "codec.props.decode": {"equal": True},
    "codec.table.encode_small": {"roundtrip": True},
    "codec.table.decode_small": {"keys": 3, "equal": True},
    "codec.table.encode_celery": {"roundtrip": True},
    "codec.table.decode_celery": {"keys": 19, "equal": True},
    "codec.conn.receive_publish": {"events": ["ContentReceived"], "bodies_ok": True},
    "codec.conn.receive_publish_x16": {"events": ["ContentReceived"] * 16, "bodies_ok": True},
    "route.default": {"queues": 1},
    "route.direct": {"queues": 1},
    "route.fanout": {"queues": 10},
    "route.topic": {"queues": 7},
    "route.topic_uncached": {"queues": 5},
    "route.headers": {"queues": 2},
    "queue.publish_get_ack": {"tags_used": True, "ready": 0, "unacked": 0},
    "queue.publish_consume_ack": {"delivered_all": True, "ready": 0, "unacked": 0},
    "queue.route_consume_ack": {"delivered_all": True, "ready": 0, "unacked": 0},
    "publish.to_consumer": {
        "delivered_all": True,
        "all_routed": True,
        "confirmed_all": True,
        "ready": 0,
        "unacked": 0,
    },
    "publish.confirmed": {
        "delivered_all": True,
        "all_routed": True,
        "confirmed_all": True,
        "ready": 0,
        "unacked": 0,
    },
}


@pytest.fixture(scope="module")
def micro() -> Iterator[ModuleType]:
    name = "leveret_bench_micro"
    spec = importlib.util.spec_from_file_location(name, MICRO_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being created
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def results(micro: ModuleType) -> dict[str, Any]:
    return {r.name: r for r in micro.run(iterations=10, repeat=1)}


def test_every_benchmark_ran(results: dict[str, Any]) -> None:
    failed = {name: r.error for name, r in results.items() if not r.ok}
    assert not failed
    for result in results.values():
        assert result.loops == 10
        assert len(result.times_ns) == 1
        assert result.facts


def test_coverage(results: dict[str, Any]) -> None:
    assert set(EXPECTED) <= set(results)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_operation_did_its_job(results: dict[str, Any], name: str) -> None:
    facts = results[name].facts
    assert {key: facts.get(key) for key in EXPECTED[name]} == EXPECTED[name]


def test_deliver_tags_count_every_call(results: dict[str, Any]) -> None:
    # 10 timed calls, then the one that the check decodes.
    assert results["codec.method.encode_deliver"].facts["delivery_tag"] == 11


def test_a_failing_benchmark_does_not_stop_the_run(
    micro: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_setup() -> Any:
        raise KeyError("gone")

    def broken_op() -> Any:
        def op() -> None:
            raise ValueError("bad input")

        return micro.Case(op, lambda total: {}, {})

    def does_nothing() -> Any:
        return micro.Case(lambda: None, lambda total: {"queues": 0}, {"queues": 3})

    def fine() -> Any:
        return micro.Case(lambda: None, lambda total: {"calls": total}, {"calls": 5})

    benches = [
        micro.Bench("x.broken_setup", "", broken_setup),
        micro.Bench("x.broken_op", "", broken_op),
        micro.Bench("x.does_nothing", "", does_nothing),
        micro.Bench("x.fine", "", fine),
    ]
    monkeypatch.setattr(micro, "BENCHES", benches)
    code = micro.main(["--iterations", "5", "--repeat", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "ERROR x.broken_setup: KeyError: 'gone'" in err
    assert "ERROR x.broken_op: ValueError: bad input" in err
    assert "ERROR x.does_nothing: AssertionError: the operation did not do its job" in err
    assert "x.fine" not in err
    assert [line.split()[0] for line in out.splitlines()[3:]] == [b.name for b in benches]


def test_cli_json(micro: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    code = micro.main(["--quick", "--filter", "route.fanout", "--filter", "DECODE_SMALL", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["name"] for r in doc["results"]] == ["codec.table.decode_small", "route.fanout"]
    assert all(r["ok"] and r["repeat"] == 3 for r in doc["results"])
    assert doc["machine"]["cpus"]


def test_cli_list_and_no_match(micro: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert micro.main(["--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [b.name for b in micro.BENCHES]
    assert micro.main(["--filter", "no-such-bench"]) == 2
