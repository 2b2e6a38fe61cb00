"""The metric families Leveret serves to Prometheus, named and labelled as RabbitMQ's
rabbitmq_prometheus plugin names them, so that its Grafana dashboards work unchanged.

``families`` turns a scrape's snapshot (prometheus_snapshot) into prometheus_client metric
families. It touches no broker object, so it may run in a worker thread while the loop
goes on serving AMQP. No metric is updated per message: everything is read at scrape time
from counters the broker keeps anyway.

Families are grouped as RabbitMQ groups them (the names ``/metrics/detailed?family=``
takes). Metrics of Erlang internals (reductions, process memory, Raft, Mnesia, the
Erlang VM) have no Leveret equivalent and are left out rather than faked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Generic, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.utils import floatToGoString

from leveret.broker.node_counters import MESSAGE_SIZE_BOUNDS
from leveret.http.node import NodeResources
from leveret.http.prometheus_snapshot import (
    PROTOCOL,
    ChannelRow,
    ConnectionRow,
    QueueRow,
    Snapshot,
)
from leveret.version import __version__

# Bucket bounds are written as Go writes floats ("100.0", "1e+06"), as Prometheus 3
# normalises them on ingestion and as the dashboards' queries spell them.
go_float: Callable[[float], str] = floatToGoString

Row = TypeVar("Row")


@dataclass(frozen=True)
class PerObject(Generic[Row]):
    """One metric over rows of one kind: a sample per row on the per-object endpoints,
    their sum on /metrics (RabbitMQ's aggregation)."""

    name: str  # without the rabbitmq_ / rabbitmq_detailed_ prefix
    kind: str  # "gauge" or "counter"
    help: str
    value: Callable[[Row], float]


QUEUE_LABELS = ("vhost", "queue")
# RabbitMQ labels channels and connections alike with "channel" (an Erlang process id
# there); Leveret's value is the client's address, and the channel number for channels.
CHANNEL_LABELS = ("channel",)


def _queue_labels(row: QueueRow) -> list[str]:
    return [row.vhost, row.name]


def _channel_labels(row: ChannelRow | ConnectionRow) -> list[str]:
    return [row.label]


QUEUE_COARSE: tuple[PerObject[QueueRow], ...] = (
    PerObject("queue_messages_ready", "gauge", "Messages ready for delivery", lambda r: r.ready),
    PerObject(
        "queue_messages_unacked",
        "gauge",
        "Messages delivered and not yet acknowledged",
        lambda r: r.unacked,
    ),
    PerObject("queue_messages", "gauge", "Ready and unacknowledged messages", lambda r: r.messages),
)
QUEUE_CONSUMERS: PerObject[QueueRow] = PerObject(
    "queue_consumers", "gauge", "Consumers of the queue", lambda r: r.consumers
)
QUEUE_DETAILS: tuple[PerObject[QueueRow], ...] = (
    QUEUE_CONSUMERS,
    PerObject(
        "queue_messages_ram",
        "gauge",
        "Ready and unacknowledged messages held in memory",
        lambda r: r.ready_ram + r.unacked,
    ),
    PerObject(
        "queue_messages_ram_bytes",
        "gauge",
        "Body bytes of the messages held in memory",
        lambda r: r.ready_bytes - r.paged_bytes + r.unacked_bytes,
    ),
    PerObject(
        "queue_messages_ready_ram",
        "gauge",
        "Ready messages held in memory",
        lambda r: r.ready_ram,
    ),
    PerObject(
        "queue_messages_unacked_ram",
        "gauge",
        "Unacknowledged messages held in memory",
        lambda r: r.unacked,
    ),
    PerObject(
        "queue_messages_bytes",
        "gauge",
        "Body bytes of ready and unacknowledged messages",
        lambda r: r.ready_bytes + r.unacked_bytes,
    ),
    PerObject(
        "queue_messages_ready_bytes",
        "gauge",
        "Body bytes of ready messages",
        lambda r: r.ready_bytes,
    ),
    PerObject(
        "queue_messages_unacked_bytes",
        "gauge",
        "Body bytes of unacknowledged messages",
        lambda r: r.unacked_bytes,
    ),
    PerObject("queue_messages_paged_out", "gauge", "Messages paged out to disk", lambda r: r.paged),
    PerObject(
        "queue_messages_paged_out_bytes",
        "gauge",
        "Body bytes of the messages paged out to disk",
        lambda r: r.paged_bytes,
    ),
)
CHANNEL_METRICS: tuple[PerObject[ChannelRow], ...] = (
    PerObject("channel_consumers", "gauge", "Consumers on the channel", lambda r: r.consumers),
    PerObject(
        "channel_messages_unacked",
        "gauge",
        "Messages delivered on the channel and not yet acknowledged",
        lambda r: r.unacked,
    ),
    PerObject(
        "consumer_prefetch",
        "gauge",
        "Unacknowledged messages each new consumer of the channel may hold (basic.qos)",
        lambda r: r.consumer_prefetch,
    ),
    PerObject(
        "channel_prefetch",
        "gauge",
        "Unacknowledged messages all consumers of the channel may hold together",
        lambda r: r.channel_prefetch,
    ),
)
CONNECTION_METRICS: tuple[PerObject[ConnectionRow], ...] = (
    PerObject("connection_channels", "gauge", "Channels on the connection", lambda r: r.channels),
)

# Node-wide counters: (name, help, NodeCounters attribute).
CHURN = (
    ("connections_opened_total", "Connections opened", "connections_opened"),
    ("connections_closed_total", "Connections closed, opened or not", "connections_closed"),
    ("channels_opened_total", "Channels opened", "channels_opened"),
    ("channels_closed_total", "Channels closed", "channels_closed"),
    ("queues_declared_total", "Successful queue.declare calls", "queues_declared"),
    ("queues_created_total", "Queues created", "queues_created"),
    ("queues_deleted_total", "Queues deleted", "queues_deleted"),
)

# rabbitmq_global_messages_<key> with the protocol label: (key, help).
GLOBAL_MESSAGES = (
    ("received_total", "Messages received from publishers"),
    ("received_confirm_total", "Messages received from publishers in confirm mode"),
    ("routed_total", "Messages routed to at least one queue"),
    ("unroutable_dropped_total", "Unroutable messages dropped (not mandatory)"),
    ("unroutable_returned_total", "Unroutable mandatory messages returned to publishers"),
    ("confirmed_total", "Messages confirmed to publishers"),
    ("delivered_total", "Messages delivered to consumers and basic.get"),
    ("delivered_consume_manual_ack_total", "Messages delivered to consumers that ack"),
    ("delivered_consume_auto_ack_total", "Messages delivered to no-ack consumers"),
    ("delivered_get_manual_ack_total", "Messages fetched with basic.get to be acked"),
    ("delivered_get_auto_ack_total", "Messages fetched with basic.get no-ack"),
    ("get_empty_total", "basic.get calls that found the queue empty"),
    ("redelivered_total", "Messages delivered again after a requeue"),
    ("acknowledged_total", "Messages acknowledged by consumers"),
)

Family = CounterMetricFamily | GaugeMetricFamily | UnknownMetricFamily


def _family(name: str, kind: str, help_text: str, labels: Iterable[str] = ()) -> Family:
    if kind == "counter":
        return CounterMetricFamily(name, help_text, labels=list(labels))
    if kind == "gauge":
        return GaugeMetricFamily(name, help_text, labels=list(labels))
    return UnknownMetricFamily(name, help_text, labels=list(labels))


def _single(name: str, kind: str, help_text: str, value: float) -> Family:
    family = _family(name, kind, help_text)
    family.add_metric([], value)
    return family


def _per_object(
    snapshot: Snapshot,
    metrics: Iterable[PerObject[Row]],
    rows: tuple[Row, ...],
    label_names: tuple[str, ...],
    labels: Callable[[Row], list[str]],
) -> Iterator[Metric]:
    prefix = snapshot.scope.prefix
    per_object = snapshot.scope.per_object
    row_labels = [labels(row) for row in rows] if per_object else []
    for metric in metrics:
        value = metric.value
        if per_object:
            family = _family(prefix + metric.name, metric.kind, metric.help, label_names)
            for row, names in zip(rows, row_labels, strict=True):
                family.add_metric(names, value(row))
        else:
            family = _family(prefix + metric.name, metric.kind, metric.help)
            family.add_metric([], sum(value(row) for row in rows))
        yield family


def _node_coarse(snapshot: Snapshot, resources: NodeResources) -> Iterator[Metric]:
    prefix = snapshot.scope.prefix
    if resources.fd_used:
        yield _single(
            prefix + "process_open_fds", "gauge", "Open file descriptors", resources.fd_used
        )
    yield _single(
        prefix + "process_open_tcp_sockets", "gauge", "Client connections", snapshot.sockets
    )
    yield _single(
        prefix + "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the broker process in bytes",
        resources.mem_used,
    )
    yield _single(
        prefix + "disk_space_available_bytes",
        "gauge",
        "Free disk space where the data directory is, in bytes",
        resources.disk_free,
    )


def _node_limits(snapshot: Snapshot, resources: NodeResources) -> Iterator[Metric]:
    prefix = snapshot.scope.prefix
    if resources.fd_total:
        yield _single(
            prefix + "process_max_fds", "gauge", "Open file descriptors limit", resources.fd_total
        )
        # Sockets are bounded only by the file descriptor limit in Leveret.
        yield _single(
            prefix + "process_max_tcp_sockets",
            "gauge",
            "Open sockets limit (the file descriptor limit)",
            resources.fd_total,
        )
    yield _single(
        prefix + "resident_memory_limit_bytes",
        "gauge",
        "Memory high watermark in bytes",
        resources.mem_limit,
    )
    if resources.disk_free is not None:
        yield _single(
            prefix + "disk_space_available_limit_bytes",
            "gauge",
            "Free disk space below which publishers are blocked, in bytes",
            resources.disk_free_limit,
        )
    yield _single(
        prefix + "erlang_uptime_seconds", "gauge", "Node uptime in seconds", snapshot.uptime
    )


def _cluster(snapshot: Snapshot) -> Iterator[Metric]:
    scope = snapshot.scope
    labels = ["vhost", "exchange", "type"]
    if scope.wants("exchange_names"):
        names = GaugeMetricFamily(
            "rabbitmq_cluster_exchange_name", "Exchanges (each sample is 1)", labels=labels
        )
        for row in snapshot.exchanges:
            names.add_metric([row.vhost, row.name, row.type], 1)
        yield names
    if scope.wants("exchange_bindings"):
        bindings = GaugeMetricFamily(
            "rabbitmq_cluster_exchange_bindings",
            "Bindings whose source is the exchange",
            labels=labels,
        )
        for row in snapshot.exchanges:
            bindings.add_metric([row.vhost, row.name, row.type], row.bindings)
        yield bindings
    if scope.wants("vhost_status"):
        status = GaugeMetricFamily(
            "rabbitmq_cluster_vhost_status", "Whether the vhost is running", labels=["vhost"]
        )
        for name in snapshot.vhosts:
            status.add_metric([name], 1)
        yield status


def _totals(snapshot: Snapshot) -> Iterator[Metric]:
    yield _single("rabbitmq_connections", "gauge", "Open connections", snapshot.connection_count)
    yield _single("rabbitmq_channels", "gauge", "Open channels", snapshot.channel_count)
    yield _single("rabbitmq_consumers", "gauge", "Consumers", snapshot.consumer_count)
    yield _single("rabbitmq_queues", "gauge", "Queues", snapshot.queue_count)


def _alarms(snapshot: Snapshot) -> Iterator[Metric]:
    alarms = snapshot.alarms
    for name, help_text, active in (
        # Leveret raises no file descriptor alarm: it is never in effect.
        ("file_descriptor_limit", "1 while the file descriptor alarm is in effect", False),
        (
            "free_disk_space_watermark",
            "1 while the free disk space alarm is in effect",
            "disk" in alarms,
        ),
        ("memory_used_watermark", "1 while the memory alarm is in effect", "memory" in alarms),
    ):
        yield _single(f"rabbitmq_alarms_{name}", "untyped", help_text, int(active))


def _global(snapshot: Snapshot) -> Iterator[Metric]:
    totals = snapshot.message_totals
    for key, help_text in GLOBAL_MESSAGES:
        if key in totals:
            family = CounterMetricFamily(
                f"rabbitmq_global_messages_{key}", help_text, labels=["protocol"]
            )
            family.add_metric([PROTOCOL], totals[key])
            yield family
    for name, help_text, value in (
        ("publishers", "Channels that have published", snapshot.publisher_count),
        ("consumers", "Consumers", snapshot.consumer_count),
    ):
        gauge = GaugeMetricFamily(f"rabbitmq_global_{name}", help_text, labels=["protocol"])
        gauge.add_metric([PROTOCOL], value)
        yield gauge


def _message_sizes(snapshot: Snapshot) -> Metric:
    counters = snapshot.counters
    family = HistogramMetricFamily(
        "rabbitmq_message_size_bytes",
        "Sizes of the messages received from publishers",
        labels=["protocol"],
    )
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip(MESSAGE_SIZE_BOUNDS, counters.message_sizes, strict=False):
        running += count
        buckets.append((go_float(bound), running))
    buckets.append(("+Inf", running + counters.message_sizes[-1]))
    family.add_metric([PROTOCOL], buckets, sum_value=counters.message_bytes)
    return family


def _identity(snapshot: Snapshot) -> Iterator[Metric]:
    build = UnknownMetricFamily(
        "rabbitmq_build_info",
        "Versions of the broker and its Prometheus support",
        labels=["rabbitmq_version", "prometheus_plugin_version", "prometheus_client_version"],
    )
    build.add_metric([__version__, __version__, CLIENT_VERSION], 1)
    yield build
    identity = UnknownMetricFamily(
        "rabbitmq_identity_info",
        "The node's and cluster's names",
        labels=[
            "rabbitmq_node",
            "rabbitmq_cluster",
            "rabbitmq_cluster_permanent_id",
            "rabbitmq_endpoint",
        ],
    )
    identity.add_metric(
        [snapshot.node_name, snapshot.cluster_name, snapshot.cluster_id, snapshot.scope.endpoint],
        1,
    )
    yield identity


def families(snapshot: Snapshot) -> list[Metric]:
    """The metric families of one scrape, in RabbitMQ's order (runs on any thread)."""
    scope = snapshot.scope
    found: list[Metric] = []
    if scope.wants("alarms"):
        found.extend(_alarms(snapshot))
    if scope.wants("connection_churn_metrics"):
        counters = snapshot.counters
        for name, help_text, attribute in CHURN:
            found.append(
                _single(scope.prefix + name, "counter", help_text, getattr(counters, attribute))
            )
    resources = snapshot.resources
    if resources is not None and scope.wants("node_coarse_metrics"):
        found.extend(_node_coarse(snapshot, resources))
    if resources is not None and scope.wants("node_metrics"):
        found.extend(_node_limits(snapshot, resources))
    queues = snapshot.queues
    if scope.wants("queue_coarse_metrics"):
        found.extend(_per_object(snapshot, QUEUE_COARSE, queues, QUEUE_LABELS, _queue_labels))
    if scope.wants("queue_metrics"):
        found.extend(_per_object(snapshot, QUEUE_DETAILS, queues, QUEUE_LABELS, _queue_labels))
    elif scope.wants("queue_consumer_count"):
        found.extend(_per_object(snapshot, (QUEUE_CONSUMERS,), queues, QUEUE_LABELS, _queue_labels))
    if scope.wants("channel_metrics"):
        found.extend(
            _per_object(
                snapshot, CHANNEL_METRICS, snapshot.channels, CHANNEL_LABELS, _channel_labels
            )
        )
    if scope.wants("connection_metrics"):
        found.extend(
            _per_object(
                snapshot,
                CONNECTION_METRICS,
                snapshot.connections,
                CHANNEL_LABELS,
                _channel_labels,
            )
        )
    if scope.wants("totals"):
        found.extend(_totals(snapshot))
    found.extend(_cluster(snapshot))
    if scope.wants("global"):
        found.extend(_global(snapshot))
    if scope.wants("message_sizes"):
        found.append(_message_sizes(snapshot))
    found.extend(_identity(snapshot))
    return found


def _client_version() -> str:
    try:
        return version("prometheus-client")
    except PackageNotFoundError:
        return "unknown"


CLIENT_VERSION = _client_version()
