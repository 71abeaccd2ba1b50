"""The discrete-event simulator: timing, FIFO queues, costs, energy, feedback causality."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from cdio_stream.errors import ConfigError, DatasetError
from cdio_stream.policy import Policy, make_policy
from cdio_stream.sim import Simulator, SyntheticTraceConfig, summarize, synthetic_trace
from cdio_stream.system import default_profiles, make_links, make_servers

SERVERS = make_servers("V1", n_edge=2)
TRACE = synthetic_trace(SyntheticTraceConfig(streams=3, frames=200, seed=4))


@pytest.fixture(scope="module")
def sim():
    return Simulator(TRACE, SERVERS, make_links(SERVERS, "fluctuating", seed=1))


@pytest.fixture(scope="module")
def cdio_run(sim):
    return sim.run(make_policy("cdio", SERVERS))


class Spy(Policy):
    """Records what it is told; assigns round-robin."""

    name = "spy"

    def __init__(self, servers):
        super().__init__(servers)
        self.calls, self.k = [], 0

    def _assign(self, tasks, state):
        from cdio_stream.policy import Decision

        self.calls.append(("assign", state.time, len(tasks)))
        out = []
        for t in tasks:
            out.append(Decision(t.task_id, self.server_ids[self.k % len(self.server_ids)]))
            self.k += 1
        return out

    def _feedback(self, items):
        self.calls.append(("feedback", items))


class TestTiming:
    def test_delay_parts_add_up(self, cdio_run):
        for r in cdio_run.records:
            assert r.preprocess_s + r.queue_s + r.transmission_s + r.inference_s == pytest.approx(r.total_s)
            assert r.finished_s - r.arrival_s == pytest.approx(r.total_s)
            assert r.queue_s >= -1e-12 and r.decided_s >= r.arrival_s + r.preprocess_s - 1e-12

    def test_servers_run_one_batch_at_a_time(self, cdio_run):
        by_server = defaultdict(lambda: defaultdict(list))
        for r in cdio_run.records:  # members of one batch share its start and end
            by_server[r.server_id][(r.finished_s - r.inference_s, r.finished_s)].append(r.batch_size)
        for sid, batches in by_server.items():
            spans = sorted(batches)
            assert all(
                a_end <= b_start + 1e-12 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
            )
            assert all(len(sizes) == sizes[0] and set(sizes) == {sizes[0]} for sizes in batches.values())
            if sid.startswith("edge"):
                assert all(sizes == [1] for sizes in batches.values())

    def test_the_cloud_batches_under_load_and_a_batch_takes_its_profiled_latency(self):
        p = default_profiles()
        sim = Simulator(TRACE, SERVERS, make_links(SERVERS, "stable"))
        records = sim.run(make_policy("all-cloud", SERVERS)).records
        sizes = [r.batch_size for r in records]
        assert max(sizes) > 1  # 75 frames/s on a link that carries ~290: frames queue, batches form
        for r in records:
            base = p.batch_time("yolov5l", "a100-40gb", r.batch_size)
            assert 0.7 * base < r.inference_s < 1.4 * base  # L(b) x the members' mean jitter
        one = p.batch_time("yolov5l", "a100-40gb", 1)
        assert p.batch_time("yolov5l", "a100-40gb", 8) < 8 * one  # batching pays

    def test_all_cloud_traffic_queues_on_one_wan_link(self):
        servers = make_servers("V1", n_edge=1)
        two_clouds = [*servers, replace(servers[-1], id="cloud-2")]
        links = make_links(two_clouds, "stable")
        assert links["cloud"] is links["cloud-2"] and links["edge-1"] is not links["cloud"]
        sim = Simulator(TRACE[:60], two_clouds, links, slot_s=0.2)  # ~15 tasks a slot
        records = sim.run(make_policy("random", two_clouds, seed=3)).records
        assert {r.server_id for r in records if r.tier == "cloud"} == {"cloud", "cloud-2"}
        # one link: the transfers to both clouds never overlap, and some had to wait for it
        spans = sorted((r.link_start_s, r.link_start_s + r.payload_bytes * 8 / 300e6) for r in records
                       if r.tier == "cloud")  # fmt: skip
        assert all(
            a_end <= b_start + 1e-9 for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
        )
        assert any(r.link_start_s > r.decided_s + 1e-9 for r in records if r.tier == "cloud")

    def test_feedback_never_arrives_before_the_task_finishes(self, sim):
        spy = Spy(SERVERS)
        records = {r.task_id: r for r in sim.run(spy, limit=300).records}
        delivered, waiting = {}, []
        for call in spy.calls:  # a feedback batch is handed over just before the next decision
            if call[0] == "feedback":
                waiting.extend(fb.task_id for fb in call[1])
            else:
                delivered.update((tid, call[1]) for tid in waiting)
                waiting = []
        delivered.update((tid, float("inf")) for tid in waiting)  # the run's final flush
        assert len(delivered) == 300
        assert all(delivered[tid] >= records[tid].finished_s - 1e-9 for tid in delivered)
        assert sum(t < float("inf") for t in delivered.values()) > 200  # most arrive during the run

    def test_stable_link_transmission(self):
        trace = TRACE[:1]
        sim = Simulator(trace, SERVERS, make_links(SERVERS, "stable"))
        r = sim.run(make_policy("all-cloud", SERVERS)).records[0]
        assert r.transmission_s == pytest.approx(trace[0].jpeg_bytes * 8 / 300e6 + 0.02)


class TestCosts:
    def test_compute_bandwidth_and_energy_definitions(self, cdio_run):
        p = default_profiles()
        for r in cdio_run.records[:200]:
            dev = p.device(SERVERS[[s.id for s in SERVERS].index(r.server_id)].device)
            assert r.compute_tflop == pytest.approx(dev.fp16_tflops * r.inference_s / r.batch_size)
            assert r.bandwidth_bps == pytest.approx(r.payload_bytes * 8 / r.transmission_s)

    def test_energy_is_busy_plus_idle_plus_transmission_over_the_horizon(self, cdio_run):
        p = default_profiles()
        m = cdio_run.metrics
        expected = 0.0
        for s in SERVERS:
            dev = p.device(s.device)
            rs = [r for r in cdio_run.records if r.server_id == s.id]
            busy = sum(r.inference_s / r.batch_size for r in rs)
            sending = sum(r.payload_bytes * 8 / (r.payload_bytes * 8 / (r.transmission_s - (0.02 if s.tier == "cloud"
                          else 0.001))) for r in rs)  # fmt: skip
            expected += dev.working_power_w * busy + dev.idle_power_w * (m.horizon_s - busy)
            expected += dev.uplink_tx_power_w * sending
        assert m.energy_kj * 1e3 == pytest.approx(expected, rel=1e-6)

    def test_bandwidth_two_ways_paper_per_task_and_wan_occupancy(self):
        sim = Simulator(TRACE, SERVERS, make_links(SERVERS, "stable"))
        edge, cloud = (sim.run(make_policy(p, SERVERS)) for p in ("all-edge", "all-cloud"))
        assert edge.metrics.wan_mbps == 0 and edge.metrics.wan_bytes_per_task == 0  # the LAN is not the WAN
        sent = sum(r.payload_bytes for r in cloud.records)
        assert cloud.metrics.wan_bytes_per_task == pytest.approx(sent / len(cloud.records))
        assert cloud.metrics.wan_mbps == pytest.approx(sent * 8 / cloud.metrics.horizon_s / 1e6)
        assert cloud.metrics.wan_mbps < 300  # the uplink cannot carry more than its rate
        # the paper's per-task figure is highest on the fastest link: it calls the edge the heavy user
        assert edge.metrics.bandwidth_mbps > cloud.metrics.bandwidth_mbps

    def test_dao_bitrate_shrinks_payload_and_accuracy(self):
        servers = SERVERS
        sim = Simulator(TRACE[:50], servers, make_links(servers, "stable"))
        full = {r.task_id: r for r in sim.run(make_policy("all-cloud", servers)).records}
        low = sim.run(make_policy("dao", servers, qualities=(0.5,))).records
        for r in low:
            assert r.quality == 0.5
            if r.server_id == "cloud":
                assert r.payload_bytes == pytest.approx(full[r.task_id].payload_bytes / 2, abs=1)
                assert r.accuracy < full[r.task_id].accuracy or full[r.task_id].accuracy == 0


class TestRuns:
    def test_deterministic(self, sim):
        a = sim.run(make_policy("cdio", SERVERS))
        b = sim.run(make_policy("cdio", SERVERS))
        assert [(r.task_id, r.server_id, r.total_s) for r in a.records] == [
            (r.task_id, r.server_id, r.total_s) for r in b.records
        ]
        assert a.metrics == b.metrics

    def test_all_tasks_once_and_metrics_consistent(self, sim, cdio_run):
        assert sorted(r.task_id for r in cdio_run.records) == sorted(t.task_id for t in sim.tasks)
        assert summarize(
            cdio_run.records, horizon_s=cdio_run.metrics.horizon_s
        ).mean_accuracy == pytest.approx(cdio_run.metrics.mean_accuracy)
        m = cdio_run.metrics
        assert 0 <= m.both_success <= min(m.acc_success, m.delay_success) <= 1

    def test_overload_shows_in_delay(self, sim):
        m_edge = sim.run(make_policy("all-edge", SERVERS)).metrics  # 75 tasks/s on 2 Jetsons (~57/s)
        m_cdio = sim.run(make_policy("cdio", SERVERS)).metrics
        assert m_edge.delay_success < 0.5 < m_cdio.delay_success
        assert m_edge.compute_tflop < m_cdio.compute_tflop

    def test_oracle_gets_the_truth(self, sim):
        m = sim.run(make_policy("oracle", SERVERS, truth=sim.truth)).metrics
        r = sim.run(make_policy("random", SERVERS)).metrics
        assert m.both_success > r.both_success

    def test_errors(self):
        with pytest.raises(ConfigError, match="link"):
            Simulator(TRACE, SERVERS, {})
        with pytest.raises(DatasetError, match="repeats"):
            Simulator(TRACE[:2] + TRACE[:1], SERVERS, make_links(SERVERS))
        broken = [replace(TRACE[0], accuracy={"yolov5s": 50.0})]
        with pytest.raises(DatasetError, match="yolov5l"):
            Simulator(broken, SERVERS, make_links(SERVERS))
        sim = Simulator(TRACE[:5], SERVERS, make_links(SERVERS))
        with pytest.raises(ConfigError, match="differ"):
            sim.run(make_policy("cdio", make_servers("V1", n_edge=1)))

    def test_jitter_comes_from_traced_latencies(self, cdio_run):
        per_model = defaultdict(list)
        for r in cdio_run.records:
            per_model[r.server_id].append(r.inference_s)
        assert all(np.std(v) > 0 for v in per_model.values() if len(v) > 10)


class TestFeedbackModes:
    """What the policy learns from: truth, reference runs on a sampled share, or nothing."""

    @pytest.fixture(scope="class")
    @classmethod
    def runs(cls):
        out = {}
        for mode in ("truth", "reference", "none"):
            s = Simulator(TRACE, SERVERS, make_links(SERVERS, "stable", seed=1), feedback=mode)
            spy = Spy(SERVERS)
            out[mode] = (s.run(spy), spy)
        return out

    def feedback_of(self, spy):
        return [fb for call in spy.calls if call[0] == "feedback" for fb in call[1]]

    def test_truth_gives_every_task_its_accuracy(self, runs):
        result, spy = runs["truth"]
        assert all(fb.accuracy is not None for fb in self.feedback_of(spy))
        assert result.metrics.feedback_truth == 1.0 and result.metrics.reference_compute_tflop == 0.0

    def test_none_gives_no_accuracy_but_the_same_true_metrics(self, runs):
        result, spy = runs["none"]
        assert all(fb.accuracy is None and fb.acc_ok is None for fb in self.feedback_of(spy))
        assert result.metrics.feedback_none == 1.0
        assert result.metrics.acc_success == runs["truth"][0].metrics.acc_success  # round robin either way

    def test_reference_judges_a_sampled_share_and_counts_its_cost_apart(self, runs):
        result, spy = runs["reference"]
        fbs = self.feedback_of(spy)
        judged = [fb for fb in fbs if fb.accuracy is not None]
        m = result.metrics
        assert 0.05 <= len(judged) / len(fbs) <= 0.1  # rate 0.05 plus a bounded warm-up per key
        assert m.feedback_reference == pytest.approx(len(judged) / len(fbs))
        assert all(
            fb.acc_p is not None and 0 <= fb.acc_p <= 1 and len(fb.other_accuracy) == 1 for fb in judged
        )
        models = {s.id: s.model for s in SERVERS}
        assert all(fb.other_accuracy[0][0] != models[fb.server_id] for fb in judged)  # the other tier
        assert m.reference_compute_tflop > 0 and 0 < m.reference_compute_overhead < 0.2
        sampled = [r for r in result.records if r.accuracy_source == "reference"]
        assert all(r.ref_compute_tflop > 0 and r.ref_payload_bytes == r.payload_bytes for r in sampled)

    def test_reference_runs_spend_a_compute_budget(self, runs):
        """Half the tasks are served in the cloud (round robin): their shadows on the edge are
        cheap and sampled more often; an edge-served task's cloud shadow is costly and sampled
        less, so the reference compute is about rate x the served compute."""
        result, _ = runs["reference"]
        share = {}
        for tier in ("edge", "cloud"):
            recs = [r for r in result.records if r.tier == tier]
            share[tier] = sum(r.accuracy_source == "reference" for r in recs) / len(recs)
        assert share["cloud"] > 3 * share["edge"]
        m = result.metrics
        assert 0.03 <= m.reference_compute_overhead <= 0.08  # rate 0.05 plus the bounded warm-up

    def test_unknown_mode(self):
        with pytest.raises(ConfigError, match="feedback must be one of"):
            Simulator(TRACE, SERVERS, make_links(SERVERS, "stable", seed=1), feedback="oracle")


class TestLstmPreference:
    def test_the_lstm_runs_on_live_scale_features_of_the_trace(self):
        from cdio_stream.rpp.predictor import PreferencePredictor
        from cdio_stream.rpp.shipped import DEFAULT_RPP_CHECKPOINT
        from cdio_stream.sim import WorkloadConfig
        from cdio_stream.sim.workload import live_scale_features

        norm = PreferencePredictor.load(DEFAULT_RPP_CHECKPOINT).normaliser
        raw = live_scale_features(TRACE, norm)
        assert raw.shape == (len(TRACE), len(norm.names) - 2)  # all but A^q and D^q
        z = np.log(raw[:, 0] + norm.eps)
        assert z.mean() == pytest.approx(norm.mean[0], abs=0.01)  # the checkpoint's scale
        # the synthetic complexity order is kept
        c = np.array([fr.complexity for fr in TRACE])
        assert np.all(np.diff(raw[np.argsort(c), 0]) >= -1e-12)

        s = Simulator(TRACE, SERVERS, make_links(SERVERS, "stable", seed=1),
                      workload=WorkloadConfig(preference="lstm"))  # fmt: skip
        prefs = np.array([t.preference for t in s.tasks])
        assert np.all((prefs >= 0) & (prefs <= 1)) and prefs.std() > 0
        assert s.run(make_policy("cdio", SERVERS)).metrics.tasks == len(TRACE)


class TestReferenceCard:
    def test_card_is_stratified_by_the_bandit_contexts(self):
        from cdio_stream.sim import WorkloadConfig
        from cdio_stream.sim.simulator import reference_card

        card = synthetic_trace(SyntheticTraceConfig(streams=4, frames=300, seed=40))
        space = make_policy("cdio", SERVERS).space
        judge = reference_card(card, SERVERS, WorkloadConfig(seed=40), [space])
        strata = dict(judge.strata)
        assert strata and all(k in {space.describe(c) for c in range(space.n_contexts)} for k in strata)
        # where the preference says the edge fails, the frame is harder for the reference too
        pairs = [(k, k.replace("bandwidth", "compute")) for k in strata if k.startswith("bandwidth")]
        pairs = [(b, c) for b, c in pairs if c in strata]
        assert pairs
        assert all(judge.prior_at(None, c) < judge.prior_at(None, b) for b, c in pairs)
        # no contexts: the complexity buckets alone
        assert reference_card(card, SERVERS, WorkloadConfig(seed=40)).strata == ()
