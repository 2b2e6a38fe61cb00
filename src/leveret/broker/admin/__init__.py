"""Administration of a running broker: one module per resource, plain synchronous functions.

The embedded broker's test helpers call these today; the management HTTP API and the CLI are
meant to call the same functions, so that each operation exists once (DESIGN.md, "the
management layer"). Everything here runs on the broker's event loop, without awaiting, so a
listing is a consistent snapshot.

The functions take the node as :class:`~leveret.broker.admin.base.AdminNode`, a Protocol:
the node and the connections are server-layer objects, which broker/ must not import.

Modules: ``vhosts``, ``queues``, ``messages`` (peeking), ``connections``, ``alarms``,
``definitions`` (RabbitMQ's definitions JSON).
"""
