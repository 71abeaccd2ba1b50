"""Reference feedback as the scheduler (live or simulated) runs it: who shadows, what it tells.

:class:`ReferencePlan` ties a :class:`~.sampler.ReferenceSampler` (which tasks) to the
deployment (where their second run goes) and to a :class:`~.judge.ReferenceJudge` (what
the two runs are worth to the bandit):

* a sampled task served by a non-reference model runs again on the reference server;
  one served by the reference model runs again on the least-loaded server of another
  model (the cheap edge run gives RPP its edge-tier outcome); how often each kind is
  sampled follows the compute its shadow costs (:meth:`ReferencePlan.observe` feeds the
  sampler the runs' measured compute);
* judged results give the bandit, for the served and for the other model, the credited
  accuracy and P(C1 met) under the reference's prior; with ground truth, the facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cdio_stream.errors import ConfigError
from cdio_stream.feedback.judge import ReferenceJudge
from cdio_stream.feedback.sampler import ReferenceSampler
from cdio_stream.topology import ServerSpec

__all__ = ["Judged", "ReferencePlan"]


@dataclass(frozen=True)
class Judged:
    """What one reference-sampled task tells about both models on its frame."""

    served_accuracy: float
    served_p: float  # P(served accuracy >= A^q)
    other_model: str
    other_accuracy: float
    other_p: float


class ReferencePlan:
    def __init__(
        self,
        servers: Sequence[ServerSpec],
        judge: ReferenceJudge,
        sampler: ReferenceSampler,
        reference_server: str | None = None,
    ) -> None:
        self.servers = tuple(servers)
        by_id = {s.id: s for s in self.servers}
        if reference_server is None:
            reference_server = next((s.id for s in self.servers if s.tier == "cloud"), None)
        if reference_server not in by_id:
            raise ConfigError(f"reference server {reference_server!r} is not one of {sorted(by_id)}")
        self.reference = by_id[reference_server]
        if judge.reference_model != self.reference.model:
            raise ConfigError(
                f"the reference prior is for model {judge.reference_model!r}, "
                f"reference server {reference_server!r} runs {self.reference.model!r}"
            )
        self.others = [s for s in self.servers if s.model != self.reference.model]
        if not self.others:
            raise ConfigError("reference feedback needs a server that runs another model than the reference")
        self.judge, self.sampler = judge, sampler
        self._model = {s.id: s.model for s in self.servers}

    def add_server(self, server: ServerSpec) -> None:
        """A server that joined the deployment: a shadow candidate if it runs another model
        than the reference, and its tasks can be sampled from now on."""
        if server.id in self._model:
            return
        self.servers += (server,)
        self._model[server.id] = server.model
        if server.model != self.reference.model:
            self.others.append(server)

    def shadow_for(
        self, stream_id: str, context: str, server_id: str, load: Mapping[str, float], has_truth: bool = False
    ) -> str | None:
        """The server that runs this task a second time, or None when it is not sampled.
        A frame with ground truth gets no warm-up sampling (see the sampler)."""
        if self._model[server_id] != self.reference.model:
            target = self.reference.id
        else:
            target = min(self.others, key=lambda s: (load.get(s.id, 0.0), s.id)).id
        return target if self.sampler.sample(stream_id, context, not has_truth, self._model[target]) else None

    def observe(self, server_id: str, compute: float, served: bool = True) -> None:
        """A run on ``server_id`` finished and cost ``compute`` TFLOP (``served``: the task's
        own run, not a shadow): what the sampler's compute budget is measured in."""
        model = self._model.get(server_id)
        if model is not None:
            self.sampler.observe(compute, model, served)

    def judged(
        self,
        served_model: str,
        agreement: float,
        a_req: float,
        complexity: float | None,
        context: str | None = None,
    ) -> Judged:
        """Credit both models from the non-reference model's agreement with the reference
        (the prior of the task's policy context where the judge has one, else of its complexity)."""
        j = self.judge
        cheap = (j.credit(agreement, complexity, context), j.success_p(agreement, a_req, complexity, context))
        ref = (j.credit(None, complexity, context), j.success_p(None, a_req, complexity, context))
        if served_model == self.reference.model:
            other = self.others[0].model
            return Judged(ref[0], ref[1], other, *cheap)
        return Judged(cheap[0], cheap[1], self.reference.model, *ref)
