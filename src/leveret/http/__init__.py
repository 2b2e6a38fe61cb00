"""The management HTTP API (RabbitMQ's shapes) and the Prometheus endpoint.

Runs on the broker's own event loop. Handlers call broker/admin and read the node through
the ``ManagedNode`` protocol (http/node.py); they never import server/ internals, so the same
application can be served by any composition root (docs/management.md).
"""
