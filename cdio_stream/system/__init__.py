"""System models: device and model profiles (data with sources), links, cost and energy."""

from cdio_stream.system.cost import (
    QUALITY_ACCURACY_EXPONENT,
    Energy,
    bandwidth_consumption,
    compute_consumption,
    scaled_accuracy,
    scaled_payload,
    task_energy,
)
from cdio_stream.system.network import (
    BANDWIDTH_MODES,
    NOMINAL_BPS,
    FluctuatingLink,
    Link,
    ScheduledLink,
    StableLink,
    make_links,
)
from cdio_stream.system.profiles import (
    DATA_DIR,
    Deployment,
    DeviceProfile,
    ModelProfile,
    Profiles,
    default_profiles,
    load_profiles,
    make_servers,
)

__all__ = [
    "BANDWIDTH_MODES",
    "DATA_DIR",
    "NOMINAL_BPS",
    "QUALITY_ACCURACY_EXPONENT",
    "Deployment",
    "DeviceProfile",
    "Energy",
    "FluctuatingLink",
    "Link",
    "ModelProfile",
    "Profiles",
    "ScheduledLink",
    "StableLink",
    "bandwidth_consumption",
    "compute_consumption",
    "default_profiles",
    "load_profiles",
    "make_links",
    "make_servers",
    "scaled_accuracy",
    "scaled_payload",
    "task_energy",
]
