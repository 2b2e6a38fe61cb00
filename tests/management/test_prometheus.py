"""The Prometheus endpoint: RabbitMQ's metric names, labels and endpoints (``/metrics``,
``/metrics/per-object``, ``/metrics/detailed``), with counters that move with real pika
traffic. The same tests run against RabbitMQ 3.10's rabbitmq_prometheus plugin when
``LEVERET_TEST_PROMETHEUS_URL`` is set, so the shapes are proven, not guessed.

RabbitMQ refreshes its queue, channel and connection metrics every few seconds, so checks
of those poll with a deadline; its churn and global counters move at once. The RabbitMQ
node is shared with other test runs: against it, counters are checked to have grown at
least as much as this test's traffic explains.
"""

from __future__ import annotations

import gzip
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

DASHBOARD_NAMES = Path(__file__).parent / "data" / "grafana_overview_metrics.txt"
DEADLINE = 20.0  # RabbitMQ emits queue and channel statistics every 5 s

# Counters the statistics work (hot-path message counters) provides; until they are
# wired, Leveret does not serve them or they stay at zero.


class Scrape:
    """One scrape, parsed by Prometheus' own parser: samples by name."""

    def __init__(self, text: str):
        self.samples: dict[str, list[Sample]] = {}
        self.types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append(sample)

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample of ``name`` whose labels include ``labels``."""
        found = [
            s.value
            for s in self.samples.get(name, [])
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) == 1, f"{len(found)} samples of {name} with {labels}"
        return found[0]

    def total(self, name: str) -> float:
        """The sum over every sample of ``name`` (0 when there is none)."""
        return sum(s.value for s in self.samples.get(name, []))

    def has(self, name: str, **labels: str) -> bool:
        return any(
            all(s.labels.get(k) == v for k, v in labels.items()) for s in self.samples.get(name, [])
        )


def get(url: str, path: str = "/metrics", **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 30)
    return requests.get(url + path, **kwargs)


def scrape(url: str, path: str = "/metrics", **params: Any) -> Scrape:
    response = get(url, path, params=params)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def unique(prefix: str) -> str:
    return f"prom-{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def amqp(broker_url: str) -> Iterator[pika.BlockingConnection]:
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    yield connection
    if connection.is_open:
        connection.close()


def dashboard_params() -> list[Any]:
    params = []
    for line in DASHBOARD_NAMES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *since = line.split()
        marks = []
        if since and since[0] > "3.10":
            marks.append(pytest.mark.newer_than_310)
        params.append(pytest.param(name, marks=marks, id=name))
    return params


# -- names the dashboards query --------------------------------------------------------


@pytest.mark.parametrize("name", dashboard_params())
def test_every_metric_of_the_grafana_overview_dashboard_is_served(
    prometheus_url: str, name: str
) -> None:
    assert name in scrape(prometheus_url).samples


def test_identity_info_names_node_and_cluster_on_every_endpoint(prometheus_url: str) -> None:
    ids = set()
    for path, params in (
        ("/metrics", {}),
        ("/metrics/per-object", {}),
        ("/metrics/detailed", {"family": "queue_coarse_metrics"}),
    ):
        found = scrape(prometheus_url, path, **params)
        (identity,) = found.samples["rabbitmq_identity_info"]
        assert identity.value == 1
        assert {"rabbitmq_node", "rabbitmq_cluster", "rabbitmq_cluster_permanent_id"} <= set(
            identity.labels
        )
        assert identity.labels["rabbitmq_node"]
        assert identity.labels["rabbitmq_cluster_permanent_id"].startswith("rabbitmq-cluster-id-")
        ids.add(identity.labels["rabbitmq_cluster_permanent_id"])
        (build,) = found.samples["rabbitmq_build_info"]
        assert build.labels["rabbitmq_version"]
        assert found.types["rabbitmq_identity_info"] == "unknown"  # "untyped" in the text
    assert len(ids) == 1


def test_aggregated_metrics_carry_no_object_labels(prometheus_url: str, amqp: Any) -> None:
    channel = amqp.channel()
    queue = unique("agg")
    channel.queue_declare(queue, auto_delete=True)
    found = scrape(prometheus_url)
    for name in (
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_queue_messages",
        "rabbitmq_queue_consumers",
        "rabbitmq_channel_consumers",
        "rabbitmq_connection_channels",
        "rabbitmq_queues",
        "rabbitmq_connections",
    ):
        (sample,) = found.samples[name]
        assert sample.labels == {}, name
    assert found.value("rabbitmq_queues") >= 1
    assert found.value("rabbitmq_connections") >= 1
    (publishers,) = found.samples["rabbitmq_global_publishers"]
    assert publishers.labels == {"protocol": "amqp091"}


def test_resource_metrics_are_plausible(prometheus_url: str) -> None:
    found = scrape(prometheus_url)
    assert found.value("rabbitmq_process_resident_memory_bytes") > 1_000_000
    assert found.value("rabbitmq_resident_memory_limit_bytes") > 0
    assert found.value("rabbitmq_disk_space_available_bytes") > 0
    assert found.value("rabbitmq_disk_space_available_limit_bytes") > 0
    assert 0 < found.value("rabbitmq_process_open_fds") <= found.value("rabbitmq_process_max_fds")
    assert found.value("rabbitmq_erlang_uptime_seconds") > 0
    for alarm in (
        "rabbitmq_alarms_file_descriptor_limit",
        "rabbitmq_alarms_free_disk_space_watermark",
        "rabbitmq_alarms_memory_used_watermark",
    ):
        assert found.value(alarm) == 0
        assert found.types[alarm] == "unknown"


# -- counters move with traffic ---------------------------------------------------------


CHURN = (
    "rabbitmq_connections_opened_total",
    "rabbitmq_connections_closed_total",
    "rabbitmq_channels_opened_total",
    "rabbitmq_channels_closed_total",
    "rabbitmq_queues_declared_total",
    "rabbitmq_queues_created_total",
    "rabbitmq_queues_deleted_total",
)


def test_churn_counters_follow_connections_channels_and_queues(
    prometheus_url: str, broker_url: str, is_external_broker: bool
) -> None:
    before = scrape(prometheus_url)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    queue = unique("churn")
    channel.queue_declare(queue)
    channel.queue_declare(queue)  # a redeclare counts as declared, not created
    channel.queue_declare(queue, passive=True)  # a passive one counts nothing
    channel.queue_delete(queue)
    other = connection.channel()
    other.close()
    connection.close()
    expected = {
        "rabbitmq_connections_opened_total": 1,
        "rabbitmq_connections_closed_total": 1,
        "rabbitmq_channels_opened_total": 2,
        "rabbitmq_channels_closed_total": 2,
        "rabbitmq_queues_declared_total": 2,
        "rabbitmq_queues_created_total": 1,
        "rabbitmq_queues_deleted_total": 1,
    }

    def grown() -> bool:
        now = scrape(prometheus_url)
        return all(
            now.value(name) - before.value(name) >= count for name, count in expected.items()
        )

    wait_for(grown, "the churn counters")
    after = scrape(prometheus_url)
    for name in CHURN:
        assert before.types[name.removesuffix("_total")] == "counter"
        if not is_external_broker:  # nobody else uses this broker: exact counts
            assert after.value(name) - before.value(name) == expected[name], name


@pytest.mark.newer_than_310
def test_message_size_histogram_counts_published_messages(prometheus_url: str, amqp: Any) -> None:
    channel = amqp.channel()
    queue = unique("sizes")
    channel.queue_declare(queue, auto_delete=True)
    before = scrape(prometheus_url)
    for size in (10, 500, 5000, 50_000):
        channel.basic_publish("", queue, b"x" * size)
    channel.queue_declare(queue, passive=True)  # a round trip: the publishes arrived
    after = scrape(prometheus_url)

    def bucket(found: Scrape, le: str) -> float:
        return found.value("rabbitmq_message_size_bytes_bucket", protocol="amqp091", le=le)

    assert bucket(after, "100.0") - bucket(before, "100.0") >= 1
    assert bucket(after, "1000.0") - bucket(before, "1000.0") >= 2
    assert bucket(after, "10000.0") - bucket(before, "10000.0") >= 3
    assert bucket(after, "+Inf") - bucket(before, "+Inf") >= 4
    count = "rabbitmq_message_size_bytes_count"
    assert after.value(count) - before.value(count) >= 4
    total = "rabbitmq_message_size_bytes_sum"
    assert after.value(total) - before.value(total) >= 55_510


GLOBAL = "rabbitmq_global_messages_{}_total"


def test_global_message_counters_follow_traffic(prometheus_url: str, amqp: Any) -> None:
    queue = unique("global")
    publisher = amqp.channel()
    publisher.queue_declare(queue, auto_delete=False)
    publisher.confirm_delivery()
    before = scrape(prometheus_url)
    for _ in range(6):
        publisher.basic_publish("", queue, b"m")
    with pytest.raises(pika.exceptions.UnroutableError):
        publisher.basic_publish("", unique("nowhere"), b"m", mandatory=True)
    publisher.basic_publish("", unique("nowhere"), b"m")
    consumer = amqp.channel()
    for _ in range(2):  # basic.get, manual ack: acked
        method, _, _ = consumer.basic_get(queue)
        consumer.basic_ack(method.delivery_tag)
    consumer.basic_get(queue, auto_ack=True)
    method, _, _ = consumer.basic_get(queue)
    consumer.basic_nack(method.delivery_tag, requeue=True)
    consumer.basic_qos(prefetch_count=10)
    received: list[Any] = []
    consumer.basic_consume(queue, lambda ch, m, p, b: received.append(m))
    amqp.process_data_events(time_limit=0.5)
    while len(received) < 3:
        amqp.process_data_events(time_limit=0.5)
    for method in received:
        consumer.basic_ack(method.delivery_tag)
    consumer.close()
    empty = amqp.channel()
    assert empty.basic_get(queue) == (None, None, None)
    empty.queue_delete(queue)
    expected = {
        "received": 8,
        "received_confirm": 8,
        "routed": 6,
        "unroutable_returned": 1,
        "unroutable_dropped": 1,
        "confirmed": 8,
        "delivered_get_manual_ack": 3,
        "delivered_get_auto_ack": 1,
        "delivered_consume_manual_ack": 3,
        "delivered": 7,
        "redelivered": 1,
        "acknowledged": 5,
        "get_empty": 1,
    }
    after = scrape(prometheus_url)
    for key, count in expected.items():
        name = GLOBAL.format(key)
        grown = after.total(name) - before.total(name)
        assert grown >= count, f"{name} grew by {grown}, expected {count}"


# -- per object -------------------------------------------------------------------------


def test_queue_metrics_per_object_and_detailed(prometheus_url: str, amqp: Any) -> None:
    channel = amqp.channel()
    queue = unique("depth")
    channel.queue_declare(queue, auto_delete=True)
    for body in (b"a" * 10, b"b" * 20, b"c" * 40):
        channel.basic_publish("", queue, body)
    consumer = amqp.channel()
    consumer.basic_qos(prefetch_count=1)
    held: list[Any] = []
    consumer.basic_consume(queue, lambda ch, m, p, b: held.append(m))
    while not held:
        amqp.process_data_events(time_limit=0.2)
    labels = {"vhost": "/", "queue": queue}

    def settled(found: Scrape, prefix: str = "rabbitmq_") -> bool:
        return (
            found.has(prefix + "queue_messages_ready", **labels)
            and found.value(prefix + "queue_messages_ready", **labels) == 2
            and found.value(prefix + "queue_messages_unacked", **labels) == 1
        )

    wait_for(lambda: settled(scrape(prometheus_url, "/metrics/per-object")), "queue depth")
    found = scrape(prometheus_url, "/metrics/per-object")
    assert found.value("rabbitmq_queue_messages", **labels) == 3
    assert found.value("rabbitmq_queue_consumers", **labels) == 1
    assert found.value("rabbitmq_queue_messages_ready_bytes", **labels) == 60
    assert found.value("rabbitmq_queue_messages_unacked_bytes", **labels) == 10
    assert found.value("rabbitmq_queue_messages_bytes", **labels) == 70
    assert found.value("rabbitmq_queue_messages_paged_out", **labels) == 0
    (sample, *_) = found.samples["rabbitmq_queue_messages_ready"]
    assert set(sample.labels) == {"vhost", "queue"}

    detailed = scrape(prometheus_url, "/metrics/detailed", family="queue_coarse_metrics")
    assert settled(detailed, "rabbitmq_detailed_")
    assert "rabbitmq_queue_messages_ready" not in detailed.samples
    assert "rabbitmq_detailed_queue_consumers" not in detailed.samples  # not asked for
    both = scrape(
        prometheus_url,
        "/metrics/detailed",
        family=["queue_coarse_metrics", "queue_consumer_count"],
        vhost="/",
    )
    assert both.value("rabbitmq_detailed_queue_consumers", **labels) == 1
    elsewhere = scrape(
        prometheus_url, "/metrics/detailed", family="queue_coarse_metrics", vhost=unique("vh")
    )
    assert "rabbitmq_detailed_queue_messages_ready" not in elsewhere.samples
    for method in held:
        consumer.basic_ack(method.delivery_tag)


def test_channel_and_connection_metrics_per_object(prometheus_url: str, amqp: Any) -> None:
    channel = amqp.channel()
    channel.basic_qos(prefetch_count=7)
    queue = unique("chan")
    channel.queue_declare(queue, auto_delete=True)
    channel.basic_consume(queue, lambda *args: None)

    def seen() -> bool:
        found = scrape(prometheus_url, "/metrics/per-object")
        return any(s.value == 7 for s in found.samples.get("rabbitmq_consumer_prefetch", []))

    wait_for(seen, "the channel's prefetch")
    found = scrape(prometheus_url, "/metrics/per-object")
    for name in (
        "rabbitmq_channel_consumers",
        "rabbitmq_channel_messages_unacked",
        "rabbitmq_consumer_prefetch",
        "rabbitmq_channel_prefetch",
        "rabbitmq_connection_channels",
    ):
        samples = found.samples[name]
        assert samples and all(set(s.labels) == {"channel"} for s in samples), name
    (mine,) = [s for s in found.samples["rabbitmq_consumer_prefetch"] if s.value == 7]
    assert found.value("rabbitmq_channel_consumers", channel=mine.labels["channel"]) == 1
    assert found.value("rabbitmq_connections") >= 1  # totals are on per-object too


def test_cluster_wide_families_on_detailed(prometheus_url: str, amqp: Any) -> None:
    channel = amqp.channel()
    exchange = unique("x")
    queue = unique("bound")
    channel.exchange_declare(exchange, "topic", auto_delete=True)
    channel.queue_declare(queue, auto_delete=True)
    channel.queue_bind(queue, exchange, "a.*")
    channel.queue_bind(queue, exchange, "b.#")
    found = scrape(
        prometheus_url,
        "/metrics/detailed",
        family=["exchange_names", "exchange_bindings", "vhost_status"],
    )
    labels = {"vhost": "/", "exchange": exchange, "type": "topic"}
    assert found.value("rabbitmq_cluster_exchange_name", **labels) == 1
    assert found.value("rabbitmq_cluster_exchange_bindings", **labels) == 2
    assert found.value("rabbitmq_cluster_vhost_status", vhost="/") == 1
    assert not found.has("rabbitmq_cluster_exchange_name", exchange="")


def test_detailed_without_family_serves_identity_only(prometheus_url: str) -> None:
    found = scrape(prometheus_url, "/metrics/detailed", family="no_such_family")
    names = {name for name in found.samples if not name.startswith("telemetry_")}
    assert names == {"rabbitmq_identity_info", "rabbitmq_build_info"}


# -- HTTP -------------------------------------------------------------------------------


def test_text_format_and_gzip_when_asked(prometheus_url: str) -> None:
    plain = get(prometheus_url, headers={"Accept-Encoding": "identity"}, stream=True)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/plain; version=")
    assert plain.headers.get("Content-Encoding", "identity") == "identity"
    raw = plain.raw.read()
    assert b"rabbitmq_identity_info" in raw
    zipped = get(prometheus_url, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert b"rabbitmq_identity_info" in gzip.decompress(zipped.raw.read())


def test_unknown_paths_are_404(prometheus_url: str) -> None:
    assert get(prometheus_url, "/metrics/no-such-registry").status_code == 404
    assert get(prometheus_url, "/no-such-path").status_code == 404


# -- Leveret's own ---------------------------------------------------------------------


@pytest.mark.leveret_only
def test_embedded_broker_serves_prometheus() -> None:
    import leveret

    with leveret.Broker(prometheus_port=0) as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        connection.channel().queue_declare("embedded-q")
        found = scrape(broker.prometheus_url, "/metrics/per-object")
        assert found.value("rabbitmq_queues") == 1
        assert found.value("rabbitmq_queue_messages_ready", vhost="/", queue="embedded-q") == 0
        connection.close()
    with leveret.Broker() as broker, pytest.raises(RuntimeError, match="prometheus_port"):
        broker.prometheus_url  # noqa: B018 - off unless asked for


@pytest.mark.leveret_only
def test_alarm_and_vhost_deletion_show(tmp_path: Path) -> None:
    import leveret

    with leveret.Broker(prometheus_port=0, data_dir=tmp_path / "data") as broker:
        vhost = broker.add_vhost("prom-doomed")
        connection = pika.BlockingConnection(pika.URLParameters(broker.url_for(vhost)))
        channel = connection.channel()
        for name in ("a", "b", "c"):
            channel.queue_declare(name)
        broker.set_memory_alarm(True)
        found = scrape(broker.prometheus_url)
        assert found.value("rabbitmq_alarms_memory_used_watermark") == 1
        assert found.value("rabbitmq_queues") == 3
        assert found.value("rabbitmq_disk_space_available_bytes") > 0
        broker.set_memory_alarm(False)
        broker.delete_vhost(vhost)  # its queues go with it, and its connection
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
            connection.process_data_events(time_limit=5)
        wait_for(
            lambda: scrape(broker.prometheus_url).value("rabbitmq_connections_closed_total") == 1,
            "the connection to close",
        )
        found = scrape(broker.prometheus_url)
        assert found.value("rabbitmq_alarms_memory_used_watermark") == 0
        assert found.value("rabbitmq_queues") == 0
        assert found.value("rabbitmq_queues_deleted_total") == 3
        assert found.value("rabbitmq_connections") == 0
        assert found.value("rabbitmq_channels_closed_total") == 1


@pytest.mark.leveret_only
def test_cluster_id_is_kept_across_restarts(leveret_process: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "kept"
    ids = []
    for _ in range(2):
        started = leveret_process("--data-dir", str(data_dir))
        url = f"http://{started.host}:{started.prometheus_port}"
        (identity,) = scrape(url).samples["rabbitmq_identity_info"]
        ids.append(identity.labels["rabbitmq_cluster_permanent_id"])
        started.proc.terminate()
        started.proc.wait(timeout=10)
    assert ids[0] == ids[1]
