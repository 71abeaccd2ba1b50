"""cdio-stream: CDIO edge-cloud video analytics scheduling as a Kafka streaming pipeline.

The library (this package) holds broker-free logic plus thin Kafka/IO adapters;
the Faust app wiring lives in the top-level ``agents`` package.
"""

from cdio_stream.errors import BrokerError, CdioError, ConfigError, DatasetError, MessageError
from cdio_stream.settings import Settings

__all__ = [
    "BrokerError",
    "CdioError",
    "ConfigError",
    "DatasetError",
    "MessageError",
    "Settings",
    "__version__",
]

__version__ = "0.1.0"
