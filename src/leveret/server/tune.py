"""connection.tune-ok: the frame_max values a client may settle on, as RabbitMQ checks them.

RabbitMQ (rabbit_reader:validate_negotiated_integer_value/3) refuses a frame_max below its
minimum frame size, and one above its own frame_max, where a client's 0 ("no limit") counts
as above. The minimum is the compatibility profile's: 4096 in 3.x, 8192 since 4.1.
"""

from __future__ import annotations

from leveret.server.config import Config


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
