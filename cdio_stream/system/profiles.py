"""Device and model profiles: the data behind the cost, energy and inference-time models.

The numbers live in ``devices.yaml`` and ``models.yaml`` next to this module, each with
its source. :class:`Profiles` loads them once and answers the questions the simulator and
the profile-based baselines ask: how long does model M take on device D, what does it
cost, which servers make up deployment V1..V4.

Inference time model (documented in devices.yaml)::

    t = overhead_s + GFLOPs(infer_size) / (fp16_tflops * 1000 * utilisation)

Dynamic batching (a device with ``max_batch`` > 1, the cloud): a batch of b frames takes

    L(b) = t + (b - 1) * (32 * r * t - t) / 31,    r = v100_b32_ms / v100_b1_ms

i.e. linear between the batch-1 time t and the batch-32 time, whose per-image share is the
model's measured V100 ratio r applied to this device's t (models.yaml). Every frame of the
batch waits L(b); each is charged L(b) / b of device time (compute and working energy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cdio_stream.errors import ConfigError
from cdio_stream.topology import TIERS, ServerSpec

__all__ = [
    "DATA_DIR",
    "DeviceProfile",
    "ModelProfile",
    "Deployment",
    "Profiles",
    "default_profiles",
    "load_profiles",
    "make_servers",
]

DATA_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    tier: str
    fp16_tflops: float
    working_power_w: float
    idle_power_w: float
    uplink_tx_power_w: float
    utilisation: float
    overhead_s: float
    sources: Mapping[str, str]
    max_batch: int = 1

    def inference_time(self, model: ModelProfile) -> float:
        """Seconds for one frame of ``model`` on this device (batch 1)."""
        return self.overhead_s + model.gflops / (self.fp16_tflops * 1000.0 * self.utilisation)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    params_m: float
    map50: float  # percent, paper Table 1
    gflops_640: float
    eval_size: int
    infer_size: int
    v100_b1_ms: float | None = None  # Ultralytics table, ms per image at batch 1
    v100_b32_ms: float | None = None  # ... and at batch 32 (per image)

    @property
    def batch32_ratio(self) -> float:
        """Per-image time at batch 32 over batch 1 (1.0, no gain from batching, if unknown)."""
        if self.v100_b1_ms and self.v100_b32_ms:
            return self.v100_b32_ms / self.v100_b1_ms
        return 1.0

    @property
    def gflops(self) -> float:
        """GFLOPs per frame at ``infer_size`` (Table 1 is at 640 px; FLOPs scale with area)."""
        return self.gflops_640 * (self.infer_size / 640.0) ** 2


@dataclass(frozen=True)
class Deployment:
    name: str
    edge: str
    cloud: str
    edge_device: str
    cloud_device: str


@dataclass(frozen=True)
class Profiles:
    devices: Mapping[str, DeviceProfile]
    models: Mapping[str, ModelProfile]
    deployments: Mapping[str, Deployment]

    def device(self, name: str) -> DeviceProfile:
        try:
            return self.devices[name]
        except KeyError:
            raise ConfigError(f"unknown device profile {name!r}; known: {', '.join(self.devices)}") from None

    def model(self, name: str) -> ModelProfile:
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(f"unknown model profile {name!r}; known: {', '.join(self.models)}") from None

    def deployment(self, name: str) -> Deployment:
        try:
            return self.deployments[name]
        except KeyError:
            known = ", ".join(self.deployments)
            raise ConfigError(f"unknown deployment {name!r}; known: {known}") from None

    def inference_time(self, model: str, device: str) -> float:
        return self.device(device).inference_time(self.model(model))

    def batch_time(self, model: str, device: str, batch: int) -> float:
        """Seconds one batch of ``batch`` frames takes (module docstring); batch 1 = inference_time."""
        dev, mod = self.device(device), self.model(model)
        if not 1 <= batch <= dev.max_batch:
            raise ConfigError(f"batch must be in [1, {dev.max_batch}] on {device}, got {batch}")
        t1 = dev.inference_time(mod)
        t32 = 32.0 * mod.batch32_ratio * t1
        return t1 + (batch - 1) * (t32 - t1) / 31.0

    def server_inference_time(self, server: ServerSpec, deployment: str | None = None) -> float:
        """Inference time of a server; role model names ``edge``/``cloud`` resolve via ``deployment``."""
        return self.inference_time(self.resolve_model(server.model, deployment), server.device)

    def resolve_model(self, model: str, deployment: str | None = None) -> str:
        if model in self.models:
            return model
        if deployment is not None and model in TIERS:
            return getattr(self.deployment(deployment), model)
        raise ConfigError(
            f"model {model!r} has no profile (known: {', '.join(self.models)}); "
            "give a deployment to resolve edge/cloud role names"
        )


def make_servers(
    deployment: str = "V1", n_edge: int = 4, profiles: Profiles | None = None
) -> list[ServerSpec]:
    """The paper's system (4.1.1): ``n_edge`` edge nodes and one cloud, ids as in topics.yaml."""
    if n_edge < 0:
        raise ConfigError(f"n_edge must be >= 0, got {n_edge}")
    dep = (profiles or default_profiles()).deployment(deployment)
    servers = [ServerSpec(f"edge-{k}", "edge", dep.edge, dep.edge_device) for k in range(1, n_edge + 1)]
    servers.append(ServerSpec("cloud", "cloud", dep.cloud, dep.cloud_device))
    return servers


@lru_cache(maxsize=1)
def default_profiles() -> Profiles:
    """The packaged devices.yaml + models.yaml (cached; the result is immutable)."""
    return load_profiles(DATA_DIR / "devices.yaml", DATA_DIR / "models.yaml")


def load_profiles(devices_file: str | Path, models_file: str | Path) -> Profiles:
    dev_doc = load_versioned_yaml(Path(devices_file))
    mod_doc = load_versioned_yaml(Path(models_file))
    devices = {
        name: _device(name, body, devices_file) for name, body in _section(dev_doc, "devices", devices_file)
    }
    models = {
        name: _model(name, body, models_file) for name, body in _section(mod_doc, "models", models_file)
    }
    deployments = {}
    for name, body in _section(mod_doc, "deployments", models_file):
        dep = Deployment(
            name=name, **_fields(body, ("edge", "cloud", "edge_device", "cloud_device"), str, name)
        )
        for m in (dep.edge, dep.cloud):
            if m not in models:
                raise ConfigError(f"{models_file}: deployment {name} uses unknown model {m!r}")
        for d in (dep.edge_device, dep.cloud_device):
            if d not in devices:
                raise ConfigError(f"{models_file}: deployment {name} uses unknown device {d!r}")
        deployments[name] = dep
    return Profiles(devices=devices, models=models, deployments=deployments)


_DEVICE_NUMBERS = (
    "fp16_tflops",
    "working_power_w",
    "idle_power_w",
    "uplink_tx_power_w",
    "utilisation",
    "overhead_s",
)
_REQUIRED_SOURCES = (
    "fp16_tflops_source",
    "working_power_source",
    "idle_power_source",
    "uplink_tx_power_source",
    "calibration_source",  # covers utilisation and overhead_s
)


def _device(name: str, body: dict[str, Any], path: str | Path) -> DeviceProfile:
    nums = _fields(body, _DEVICE_NUMBERS, float, f"{path}: device {name}")
    if nums["fp16_tflops"] <= 0 or not 0 < nums["utilisation"] <= 1:
        raise ConfigError(f"{path}: device {name}: fp16_tflops must be > 0 and utilisation in (0, 1]")
    if min(nums["working_power_w"], nums["idle_power_w"], nums["uplink_tx_power_w"], nums["overhead_s"]) < 0:
        raise ConfigError(f"{path}: device {name}: powers and overhead must be >= 0")
    tier = body.get("tier")
    if tier not in TIERS:
        raise ConfigError(f"{path}: device {name}: tier must be one of {TIERS}, got {tier!r}")
    sources = {k: str(v) for k, v in body.items() if k.endswith("_source")}
    missing = [k for k in _REQUIRED_SOURCES if not sources.get(k, "").strip()]
    if missing:
        raise ConfigError(
            f"{path}: device {name}: every number needs its source; missing {', '.join(missing)}"
        )
    max_batch = body.get("max_batch", 1)
    if not isinstance(max_batch, int) or not 1 <= max_batch <= 32:
        raise ConfigError(
            f"{path}: device {name}: max_batch must be an integer in [1, 32], got {max_batch!r}"
        )
    if max_batch > 1 and not sources.get("max_batch_source", "").strip():
        raise ConfigError(f"{path}: device {name}: max_batch needs its max_batch_source")
    return DeviceProfile(name=name, tier=tier, sources=sources, max_batch=max_batch, **nums)


def _model(name: str, body: dict[str, Any], path: str | Path) -> ModelProfile:
    nums = _fields(body, ("params_m", "map50", "gflops_640"), float, f"{path}: model {name}")
    sizes = _fields(body, ("eval_size", "infer_size"), int, f"{path}: model {name}")
    if nums["gflops_640"] <= 0 or not 0 <= nums["map50"] <= 100:
        raise ConfigError(f"{path}: model {name}: gflops_640 must be > 0 and map50 in [0, 100]")
    batch = {}
    for k in ("v100_b1_ms", "v100_b32_ms"):
        if k in body:
            try:
                batch[k] = float(body[k])
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{path}: model {name}: field {k!r} must be float, got {body[k]!r}"
                ) from None
            if batch[k] <= 0:
                raise ConfigError(f"{path}: model {name}: {k} must be > 0")
    return ModelProfile(name=name, **nums, **sizes, **batch)


def _fields(body: Any, keys: tuple[str, ...], kind: type, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(body).__name__}")
    out = {}
    for k in keys:
        if k not in body:
            raise ConfigError(f"{where}: missing field {k!r}")
        try:
            out[k] = kind(body[k])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: field {k!r} must be {kind.__name__}, got {body[k]!r}") from None
    return out


def _section(doc: dict[str, Any], key: str, path: str | Path) -> list[tuple[str, Any]]:
    sec = doc.get(key)
    if not isinstance(sec, dict) or not sec:
        raise ConfigError(f"{path}: missing or empty {key!r} section")
    return list(sec.items())


def load_versioned_yaml(path: Path) -> dict[str, Any]:
    """A profile file (devices, models, network): a YAML mapping with ``version: 1``."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise ConfigError(f"{path}: expected a mapping with version: 1")
    return doc
