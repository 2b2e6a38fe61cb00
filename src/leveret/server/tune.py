"""Frame sizes before and at connection.tune-ok, as RabbitMQ limits them.

Until tune-ok settles frame_max, RabbitMQ reads frames against its minimum frame size
(rabbit_reader's initial_frame_max, ?FRAME_MIN_SIZE). In tune-ok
(rabbit_reader:validate_negotiated_integer_value/3) it refuses a frame_max below that
minimum, and one above its own frame_max, where a client's 0 ("no limit") counts as above.
The minimum is the compatibility profile's: 4096 in 3.x, 8192 since 4.1.
"""

from __future__ import annotations

from leveret.amqp.frames import FRAME_OVERHEAD
from leveret.server.config import Config


def handshake_frame_limit(config: Config) -> int:
    """The largest whole frame accepted before tune-ok.

    RabbitMQ lets a frame's payload reach the limit itself (it allows clients 8 bytes too
    many, ?FRAME_SIZE_FUDGE), so a 4096-byte start-ok payload passes 3.10 and 4097 does not
    (observed); our reader counts the 8 bytes of frame overhead too.
    """
    return config.compat.frame_min_size + FRAME_OVERHEAD


def frame_max_refusal(client_value: int, config: Config) -> str | None:
    """RabbitMQ's reason to refuse ``client_value`` (the text it logs), or None if it is fine."""
    minimum = config.compat.frame_min_size
    server_max = config.frame_max  # as proposed in connection.tune; 0 is no limit
    if client_value and client_value < minimum:
        return (
            f"negotiated frame_max = {client_value} is lower than the minimum allowed value "
            f"({minimum})"
        )
    if server_max and (client_value == 0 or client_value > server_max):
        return (
            f"negotiated frame_max = {client_value} is higher than the maximum allowed value "
            f"({server_max})"
        )
    return None
