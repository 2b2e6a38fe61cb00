"""Exchange types: how an exchange turns a routing key and headers into destinations.

``EXCHANGE_TYPES`` maps the AMQP type names to the classes; each instance holds the
bindings of one exchange.
"""

from __future__ import annotations

from leveret.broker.exchange_types.base import ExchangeType
from leveret.broker.exchange_types.direct import DirectExchange
from leveret.broker.exchange_types.fanout import FanoutExchange
from leveret.broker.exchange_types.headers import HeadersExchange
from leveret.broker.exchange_types.topic import TopicExchange

__all__ = [
    "EXCHANGE_TYPES",
    "DirectExchange",
    "ExchangeType",
    "FanoutExchange",
    "HeadersExchange",
    "TopicExchange",
]

EXCHANGE_TYPES: dict[str, type[ExchangeType]] = {
    cls.name: cls for cls in (DirectExchange, FanoutExchange, TopicExchange, HeadersExchange)
}
