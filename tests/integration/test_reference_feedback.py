"""Learning without labels, with real workers on the real broker: frames whose ground truth
no worker has get accuracy from reference runs, and the bandit learns from it."""

from __future__ import annotations

import asyncio

import pytest

from cdio_stream.pipeline.launcher import Launcher
from cdio_stream.pipeline.run import ResultCollector, pipeline_workers
from tests.integration.test_pipeline import publish, small_pipeline, synth, wait_for_feedbacks

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class TestReferenceFeedback:
    def test_sampled_tasks_are_judged_against_the_reference_and_the_bandit_learns(
        self, tmp_path, kafka_bootstrap, settings, topology_factory
    ):
        topology, run_settings = small_pipeline(tmp_path, kafka_bootstrap, settings, topology_factory)
        dataset = tmp_path / "dataset"
        sequences = synth(dataset, 95001, frames=6)
        launcher = Launcher(run_settings, tmp_path / "logs")
        # No --dataset for the inference workers: no ground truth anywhere in the pipeline.
        specs = pipeline_workers(topology, dataset=None, reference_rate=0.5)
        try:
            for spec in specs:
                launcher.start(spec)
            launcher.wait_ready(timeout_s=240)
            sent = asyncio.run(publish(kafka_bootstrap, topology, dataset, sequences))
            assert sent == 12
            collector = ResultCollector(kafka_bootstrap, topology, keep_results=True)
            asyncio.run(collector.collect(lambda: sent, timeout_s=240, check=launcher.check))
            assert collector.metrics.count == sent and collector.dead_letters == []
            header, policy = wait_for_feedbacks(kafka_bootstrap, topology, sent, timeout_s=120)
        finally:
            launcher.stop_all()

        results = collector.results
        judged = [r for r in results if r.accuracy_source == "reference"]
        assert judged, "no task was reference-sampled"
        assert {r.accuracy_source for r in results} <= {"reference", "none"}  # never "truth" here
        assert all(r.accuracy is None and r.reference is None for r in results if r.accuracy_source == "none")
        for r in judged:
            ref = r.reference
            assert ref.tier != r.tier and ref.reference_model == "cloud"
            assert (
                ref.agreement is not None and ref.edge_accuracy is not None and ref.cloud_accuracy is not None
            )
            assert r.accuracy == (ref.edge_accuracy if r.tier == "edge" else ref.cloud_accuracy)
            assert ref.costs.compute > 0  # the shadow run's cost, kept apart as overhead
        summary = collector.metrics.summary()
        assert summary["feedback_reference"] == len(judged) / sent
        assert summary["reference_compute_tflop"] > 0
        # The bandit's success arms learned from exactly the judged tasks: each updates the
        # (context, model) arm of the model that served it and of the model that shadowed it.
        assert header["feedbacks"] == sent
        assert policy.success.n.sum() == 2 * len(judged)
        assert policy.cost.n.sum() == sent
