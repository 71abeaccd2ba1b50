"""Policies by name: ``make_policy("cdio", servers, **kwargs)``.

| name       | class                  | what it is                                            |
|------------|------------------------|-------------------------------------------------------|
| cdio       | CdcoPolicy             | RPP preference in the context + Algorithm 1 init + CDCO bandit |
| cdco-only  | CdcoPolicy             | ablation: the bandit without preference context or init |
| rpp-only   | RppOnlyPolicy          | ablation: the preference decides, no bandit            |
| dao        | DaoPolicy              | baseline, ref [27]                                    |
| sniper     | SniperPolicy           | baseline, ref [24]                                    |
| javp       | JavpPolicy             | baseline, ref [43]                                    |
| all-edge   | AllEdgePolicy          | everything on the least-loaded edge server            |
| all-cloud  | AllCloudPolicy         | everything in the cloud                               |
| random     | RandomPolicy           | uniform over available servers                        |
| oracle     | HindsightOraclePolicy  | needs ``truth=`` (ground truth; the simulator has it) |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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

__all__ = ["POLICY_NAMES", "make_policy", "policy_from_parts", "policy_from_state"]


def _cdco(name: str, **defaults: Any) -> Callable[..., Policy]:
    def build(servers: Sequence[ServerSpec], **kwargs: Any) -> Policy:
        return CdcoPolicy(servers, name=name, **{**defaults, **kwargs})

    return build


_FACTORIES: dict[str, Callable[..., Policy]] = {
    "cdio": _cdco("cdio", use_preference=True, init_by_preference=True),
    "cdco-only": _cdco("cdco-only", use_preference=False, init_by_preference=False),
    "rpp-only": RppOnlyPolicy,
    "dao": DaoPolicy,
    "sniper": SniperPolicy,
    "javp": JavpPolicy,
    "all-edge": AllEdgePolicy,
    "all-cloud": AllCloudPolicy,
    "random": RandomPolicy,
    "oracle": HindsightOraclePolicy,
}

POLICY_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def make_policy(name: str, servers: Sequence[ServerSpec], **kwargs: Any) -> Policy:
    """Build the policy registered as ``name``; ``kwargs`` are its keyword arguments."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; known: {', '.join(POLICY_NAMES)}") from None
    try:
        return factory(servers, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: {exc}") from None


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
