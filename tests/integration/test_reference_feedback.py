"""Learning without labels, with real workers on the real broker.

No worker has ground truth (the inference workers get no dataset). Reference-sampled tasks
get accuracy judged against the reference model's detections; the bandit's success arms
learn from them; the trainer worker takes their two-tier outcomes as RPP labels, retrains
and publishes version 1 of the LSTM; and the preprocess process that was running all along
tags later tasks with version 1.

A^q is drawn from [25, 35], inside the deployment's auto range (edge median to cloud p90 of
the shipped cards, about [12, 67]) and below the cloud card's mean per-frame mAP50 (37.6):
the reference meets it by its prior, the small edge model only where it agrees with the
reference on >= 2/3 of its objects, so most labels say "compute", which the shipped LSTM
(trained for A^q in [0, 80]) does not answer for such requirements: a candidate that learnt
them has the lower held-out log-loss and is promoted. D^q is generous (20-30 s) so that
a slow CPU never turns an outcome into a delay failure.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agents.trainer import TrainerOptions
from cdio_stream.cli.deployment import WorkerSpec, pipeline_workers
from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.replay import ReplayConfig, plan_streams, replay
from cdio_stream.data.requirements import RequirementSampler
from cdio_stream.messages import decode_rpp_model, decode_task
from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector
from tests.integration.test_pipeline import small_pipeline, synth, wait_for_feedbacks
from tests.integration.test_rpp_online import read_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REQUIREMENTS = RequirementSampler(accuracy_range=(25.0, 35.0), delay_range=(20.0, 30.0), seed=3)
TRAINER = TrainerOptions(retrain_every=8, min_labels=8, window=200, epochs=8)


async def publish(bootstrap, topology, dataset: Path, sequences: list[str]) -> int:
    plans = plan_streams(DetracDataset(dataset), sequences)
    stats = await replay(plans, bootstrap=bootstrap, topology=topology,
                         config=ReplayConfig(fps=0, requirements=REQUIREMENTS))  # fmt: skip
    return int(stats.total("delivered"))


class TestReferenceFeedback:
    def test_without_labels_the_bandit_and_rpp_learn_from_reference_runs(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
        dataset = tmp_path / "dataset"
        first = synth(dataset, 95001, frames=10)  # round 1: labels for one retrain
        second = synth(dataset, 96001, frames=3)  # round 2: after the new model is out
        launcher = Launcher(run_settings, tmp_path / "logs")
        # No --dataset for the inference workers: no ground truth anywhere in the pipeline.
        specs = [
            *pipeline_workers(topology, dataset=None, reference_rate=0.5),
            WorkerSpec(TRAINER),
        ]
        try:
            for spec in specs:
                launcher.start(spec)
            launcher.wait_ready(timeout_s=300)
            pre = launcher.workers["preprocess"]

            sent = asyncio.run(publish(kafka_bootstrap, topology, dataset, first))
            assert sent == 20
            models = asyncio.run(
                read_until(kafka_bootstrap, topology.rpp_models.name, f"{topology.prefix}check-m",
                           lambda out: len(out) >= 1, 300, launcher.check)
            )  # fmt: skip
            published = decode_rpp_model(models[0].value, models[0].headers)
            assert (
                published.version == 1
                and published.card["promoted"]
                and published.card["parent_version"] == 0
            )
            holdout = published.card["holdout"]
            assert holdout["candidate"]["log_loss"] < holdout["current"]["log_loss"]

            deadline = time.monotonic() + 120
            while "switched to RPP model version 1" not in pre.log_text():
                launcher.check()
                assert time.monotonic() < deadline, pre.log_tail()
                time.sleep(0.5)
            sent2 = asyncio.run(publish(kafka_bootstrap, topology, dataset, second))
            assert sent2 == 6
            total = sent + sent2
            collector = ResultCollector(kafka_bootstrap, topology, keep_results=True)
            asyncio.run(collector.collect(lambda: total, timeout_s=300, check=launcher.check))
            assert collector.metrics.count == total and collector.dead_letters == []
            header, policy = wait_for_feedbacks(kafka_bootstrap, topology, total, timeout_s=120)
            recs = asyncio.run(
                read_until(kafka_bootstrap, topology.tasks.name, f"{topology.prefix}check-t",
                           lambda out: len(out) >= total, 60, launcher.check)
            )  # fmt: skip
            assert pre.proc.poll() is None and launcher.workers["preprocess"] is pre  # never restarted
            launcher.check()
        finally:
            launcher.stop_all()

        # Sampled tasks are judged against the reference; the rest carry no accuracy.
        results = collector.results
        judged = [r for r in results if r.accuracy_source == "reference"]
        assert len(judged) >= 8, "fewer reference-sampled tasks than the trainer's labels"
        assert {r.accuracy_source for r in results} <= {"reference", "none"}  # never "truth" here
        assert all(r.accuracy is None and r.reference is None for r in results if r.accuracy_source == "none")
        # Every result says when the scheduler decided its task, also when a shadow server published it.
        assert all(r.assigned_at is not None and r.assigned_at <= r.completed_at for r in results)
        for r in judged:
            ref = r.reference
            assert ref.tier != r.tier and ref.reference_model == "cloud"
            assert (
                ref.agreement is not None and ref.edge_accuracy is not None and ref.cloud_accuracy is not None
            )
            assert r.accuracy == (ref.edge_accuracy if r.tier == "edge" else ref.cloud_accuracy)
            assert ref.costs.compute > 0  # the shadow run's cost, kept apart as overhead
        summary = collector.metrics.summary()
        assert summary["feedback_reference"] == len(judged) / total
        assert summary["reference_compute_tflop"] > 0
        # The bandit's success arms learned from exactly the judged tasks: each updates the
        # (context, model) arm of the model that served it and of the model that shadowed it.
        assert header["feedbacks"] == total
        assert policy.success.n.sum() == 2 * len(judged)
        assert policy.cost.n.sum() == total

        # Preprocess tagged round 1 with the shipped model, and round 2, published after the
        # switch, with the trainer's.
        tasks = [decode_task(r.value, r.headers) for r in recs]
        version = {t.frame.meta.stream_id: set() for t in tasks}
        for t in tasks:
            version[t.frame.meta.stream_id].add(t.model_version)
        assert all(0 in version[s] for s in first)  # (its last frames may already be tagged by 1)
        assert {s: version[s] for s in second} == {s: {1} for s in second}
