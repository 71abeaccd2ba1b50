"""Policies by name: ``make_policy("cdio", servers, calibration=cal, **kwargs)``.

Each entry also says what the policy takes from a :class:`~cdio_stream.calibration.Calibration`
(the one place that knows which policy needs which calibrated number); explicit keyword
arguments win over the calibration, and without one a policy keeps its own defaults.

| name       | class                  | what it is                                            | from the calibration |
|------------|------------------------|-------------------------------------------------------|----------------------|
| cdio       | CdcoPolicy             | RPP preference in the context + Algorithm 1 init + CDCO bandit | complexity bucket edges |
| cdco-only  | CdcoPolicy             | ablation: the bandit without preference context or init | complexity bucket edges |
| rpp-only   | RppOnlyPolicy          | ablation: the preference decides, no bandit            | inference times, links |
| dao        | DaoPolicy              | baseline, ref [27]                                    | inference times, links, accuracy priors |
| sniper     | SniperPolicy           | baseline, ref [24]                                    | inference times, links |
| javp       | JavpPolicy             | baseline, ref [43]                                    | median complexity (threshold), inference times, links |
| all-edge   | AllEdgePolicy          | everything on the least-loaded edge server            | - |
| all-cloud  | AllCloudPolicy         | everything in the cloud                               | - |
| random     | RandomPolicy           | uniform over available servers                        | - |
| oracle     | HindsightOraclePolicy  | needs ``truth=`` (ground truth; the simulator has it) | - |

``truth=`` (the simulator's ground truth) goes to the oracle only; the other policies ignore it,
so a caller can build any policy by name the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cdio_stream.errors import ConfigError, MessageError
from cdio_stream.policy.all_cloud import AllCloudPolicy
from cdio_stream.policy.all_edge import AllEdgePolicy
from cdio_stream.policy.base import Policy, ServerSpec
from cdio_stream.policy.cdco import CdcoPolicy
from cdio_stream.policy.codec import decode_state
from cdio_stream.policy.dao import DaoPolicy
from cdio_stream.policy.hindsight import HindsightOraclePolicy
from cdio_stream.policy.javp import JavpPolicy
from cdio_stream.policy.random_policy import RandomPolicy
from cdio_stream.policy.rpp_only import RppOnlyPolicy
from cdio_stream.policy.sniper import SniperPolicy

if TYPE_CHECKING:  # calibration imports the feedback package, which imports policy.base
    from cdio_stream.calibration import Calibration

__all__ = ["POLICY_NAMES", "calibrated_kwargs", "make_policy", "policy_from_parts", "policy_from_state"]

# What each policy takes from a calibration: (servers, calibration) -> keyword arguments.
_Calibrated = Callable[[Sequence[ServerSpec], "Calibration"], dict[str, Any]]


def _edges(servers: Sequence[ServerSpec], cal: Calibration) -> dict[str, Any]:
    return {"complexity_edges": cal.complexity_edges} if cal.complexity_edges else {}


def _inference(servers: Sequence[ServerSpec], cal: Calibration) -> dict[str, Any]:
    """The delay predictors' inputs: per-server inference times, link rates and latencies."""
    out = {}
    for key, what in (
        ("inference_s", "inference_s"),
        ("link_bps", "link_bps"),
        ("latency_s", "link_latency_s"),
    ):
        values = cal.per_server(servers, what)
        if values:
            out[key] = values
    return out


def _dao(servers: Sequence[ServerSpec], cal: Calibration) -> dict[str, Any]:
    prior = cal.per_server(servers, "accuracy")
    return _inference(servers, cal) | ({"accuracy_prior": prior} if prior else {})


def _javp(servers: Sequence[ServerSpec], cal: Calibration) -> dict[str, Any]:
    median = cal.complexity_median  # complex (above the median) -> cloud
    return _inference(servers, cal) | ({"threshold": median} if median is not None else {})


def _nothing(servers: Sequence[ServerSpec], cal: Calibration) -> dict[str, Any]:
    return {}


def _cdco(name: str, **defaults: Any) -> Callable[..., Policy]:
    def build(servers: Sequence[ServerSpec], **kwargs: Any) -> Policy:
        return CdcoPolicy(servers, name=name, **{**defaults, **kwargs})

    return build


_FACTORIES: dict[str, tuple[Callable[..., Policy], _Calibrated]] = {
    "cdio": (_cdco("cdio", use_preference=True, init_by_preference=True), _edges),
    "cdco-only": (_cdco("cdco-only", use_preference=False, init_by_preference=False), _edges),
    "rpp-only": (RppOnlyPolicy, _inference),
    "dao": (DaoPolicy, _dao),
    "sniper": (SniperPolicy, _inference),
    "javp": (JavpPolicy, _javp),
    "all-edge": (AllEdgePolicy, _nothing),
    "all-cloud": (AllCloudPolicy, _nothing),
    "random": (RandomPolicy, _nothing),
    "oracle": (HindsightOraclePolicy, _nothing),
}

POLICY_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def calibrated_kwargs(name: str, servers: Sequence[ServerSpec], calibration: Calibration) -> dict[str, Any]:
    """The keyword arguments policy ``name`` takes from ``calibration`` for ``servers``."""
    return _entry(name)[1](list(servers), calibration)


def make_policy(
    name: str,
    servers: Sequence[ServerSpec],
    *,
    calibration: Calibration | None = None,
    truth: Any = None,
    **kwargs: Any,
) -> Policy:
    """Build the policy registered as ``name``: what it needs from ``calibration`` (if
    given), overridden by ``kwargs`` (its own keyword arguments); ``truth`` for the oracle."""
    factory, _ = _entry(name)
    params = calibrated_kwargs(name, servers, calibration) if calibration is not None else {}
    params |= kwargs
    if name == "oracle" and truth is not None:
        params["truth"] = truth
    try:
        return factory(servers, **params)
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: {exc}") from None


def _entry(name: str) -> tuple[Callable[..., Policy], _Calibrated]:
    try:
        return _FACTORIES[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; known: {', '.join(POLICY_NAMES)}") from None


def policy_from_state(data: bytes, **overrides: Any) -> Policy:
    """Rebuild a policy of any registered kind from its ``state_bytes()``.

    ``overrides`` go to the constructor (e.g. the hindsight oracle's ``truth`` callable,
    which cannot be saved).
    """
    return policy_from_parts(*decode_state(data), **overrides)


def policy_from_parts(meta: dict[str, Any], arrays: dict[str, Any], **overrides: Any) -> Policy:
    """Rebuild a policy from its ``state_parts()`` (as the scheduler's snapshot holds them)."""
    try:
        servers = [ServerSpec(*entry) for entry in meta["servers"]]
        params = {**meta["params"], **overrides}
        name = meta["policy"]
    except (KeyError, TypeError) as exc:
        raise MessageError(f"policy state header is malformed: {exc!r}") from None
    policy = make_policy(name, servers, **params)
    policy.load_state_parts(meta, arrays)
    return policy
