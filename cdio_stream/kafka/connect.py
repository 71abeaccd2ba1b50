"""Start aiokafka clients with one clear error when the broker cannot be reached.

aiokafka raises ``KafkaConnectionError`` from ``start()``, logs each refused connection at
ERROR, and a client left half-started warns "Unclosed AIOKafkaProducer" when collected. For
a command-line user all of that is one fact: nothing answers at the bootstrap address.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from cdio_stream.errors import BrokerError

__all__ = ["start_client", "unreachable"]


def unreachable(bootstrap: str, exc: BaseException) -> BrokerError:
    """The one-line error for a broker that does not answer at ``bootstrap``."""
    return BrokerError(
        f"cannot reach Kafka at {bootstrap} ({type(exc).__name__}): is a broker running there? "
        "(set it with --bootstrap or CDIO_KAFKA_BOOTSTRAP)"
    )


@contextlib.contextmanager
def _quiet_connect_errors() -> Iterator[None]:
    # The refused-connection lines repeat what the BrokerError says; keep them out of the
    # user's terminal while connecting, and let later (mid-run) errors log as usual.
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def start_client(client: Any, bootstrap: str) -> None:
    """``await client.start()``; on failure close the client and raise :func:`unreachable`.

    Works for producers and consumers (``stop()``) and the admin client (``close()``).
    """
    try:
        with _quiet_connect_errors():
            await client.start()
    except Exception as exc:  # KafkaConnectionError, KafkaTimeoutError, OSError, ...
        close = getattr(client, "stop", None) or client.close
        with contextlib.suppress(Exception), _quiet_connect_errors():
            await close()
        raise unreachable(bootstrap, exc) from exc
