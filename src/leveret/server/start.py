"""connection.start: what the server tells a client about itself as a connection opens."""

from __future__ import annotations

import platform

from leveret import __version__
from leveret.amqp import spec
from leveret.amqp.sasl import MECHANISMS

# Capabilities are advertised only when Leveret really implements them.
SERVER_CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "connection.blocked": True,
    "consumer_priorities": True,
    "direct_reply_to": True,
}


def connection_start(cluster_name: str, mechanisms: bytes = MECHANISMS) -> spec.ConnectionStart:
    return spec.ConnectionStart(
        version_major=0,
        version_minor=9,
        server_properties={
            "product": "Leveret",
            "version": __version__,
            "platform": f"Python {platform.python_version()}",
            "copyright": "Leveret contributors",
            "information": "Licensed under the MIT license",
            "cluster_name": cluster_name,
            "capabilities": dict(SERVER_CAPABILITIES),
        },
        mechanisms=mechanisms,
        locales=b"en_US",
    )
