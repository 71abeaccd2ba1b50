"""Scheduling policies behind one interface: CDIO's bandit, its ablations and the baselines.

See :mod:`cdio_stream.policy.base` for the contract and
:mod:`cdio_stream.policy.registry` for the names ``make_policy`` accepts.
"""

from cdio_stream.policy.all_cloud import AllCloudPolicy
from cdio_stream.policy.all_edge import AllEdgePolicy
from cdio_stream.policy.base import Decision, Feedback, Policy, ServerSpec, ServerState, SlotTask, SystemState
from cdio_stream.policy.cdco import CdcoPolicy
from cdio_stream.policy.context import ContextSpace, complexity_edges_from
from cdio_stream.policy.dao import DaoPolicy
from cdio_stream.policy.hindsight import HindsightOraclePolicy, Truth
from cdio_stream.policy.javp import JavpPolicy
from cdio_stream.policy.random_policy import RandomPolicy
from cdio_stream.policy.registry import POLICY_NAMES, make_policy, policy_from_state
from cdio_stream.policy.reward import approx_regret, expected_penalty, task_reward
from cdio_stream.policy.rpp_only import RppOnlyPolicy
from cdio_stream.policy.sniper import SniperPolicy

__all__ = [
    "POLICY_NAMES",
    "AllCloudPolicy",
    "AllEdgePolicy",
    "CdcoPolicy",
    "ContextSpace",
    "DaoPolicy",
    "Decision",
    "Feedback",
    "HindsightOraclePolicy",
    "JavpPolicy",
    "Policy",
    "RandomPolicy",
    "RppOnlyPolicy",
    "ServerSpec",
    "ServerState",
    "SlotTask",
    "SniperPolicy",
    "SystemState",
    "Truth",
    "approx_regret",
    "complexity_edges_from",
    "expected_penalty",
    "make_policy",
    "policy_from_state",
    "task_reward",
]
