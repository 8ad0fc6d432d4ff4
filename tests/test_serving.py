"""Serving a model on a layout: per-GPU memory, fits, roofline step time, cost.

Hand-computed cases use the tiny model of conftest and a made-up GPU with round numbers; the
"done when" claims of issue 3 use the bundled real models and GPU profiles.
"""

from __future__ import annotations

from dataclasses import replace
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import tiny_spec
from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.estimate import Workload, estimate
from moecalc.hardware import load_catalog
from moecalc.spec.load import load

ROUND_GPU = textwrap.dedent("""
    interconnects:
      round-up: {kind: scale-up, bandwidth_gbps: 100.0, latency_us: 0.0}
      round-out: {kind: scale-out, bandwidth_gbps: 10.0, latency_us: 0.0}
    accelerators:
      round:
        name: Round GPU
        memory_gb: 1.0
        hbm_tbps: 1.0
        dense_tflops: {bf16: 1.0}
        scale_up: round-up
        scale_up_domain: 8
        scale_out: round-out
        price_usd_per_hour: 3.6
        price_source: test
""")
IDEAL = Assumptions.for_profile("bound", mfu=1.0, hbm_efficiency=1.0, scaleup_efficiency=1.0,
                                scaleout_efficiency=1.0, runtime_overhead_bytes=0, comm_buffer_bytes=0)


@pytest.fixture
def round_catalog(tmp_path):
    path = tmp_path / "round.yaml"
    path.write_text(ROUND_GPU)
    return load_catalog(str(path))


def _run(spec, catalog, a=IDEAL, batch=1, context=16, **layout):
    return estimate(spec, Workload(batch=batch, context=context), a, "test",
                    Deployment(gpu="round", **layout), catalog)


def test_single_gpu_roofline_by_hand(tiny, round_catalog):
    """One GPU (1e12 FLOP/s, 1e12 B/s, $3.6/h = $0.001/s), batch 1, MFU and efficiency 1.

    compute = decode FLOPs per token / 1e12
    memory  = (weights - routed x (1 - f) + KV) / 1e12, f = 1 - (1 - 2/4)^1 = 1/2 of the
              4 experts are touched by one top-2 token
    comm    = 0 (one GPU), TPOT = max(compute, memory), $/Mtok = 0.001 x TPOT x 1e6
    """
    r = _run(tiny, round_catalog, gpus=1)
    w, kv = r["weights"], r["kv_cache"]["bytes"]
    assert r["perf"]["decode"]["experts_touched_fraction"] == pytest.approx(0.5)
    memory = (w["bytes"] - w["by_component"]["routed_experts"] * 0.5 + kv) / 1e12
    compute = r["flops"]["decode_per_token"] / 1e12
    assert r["perf"]["decode"]["memory_seconds"] == pytest.approx(memory)
    assert r["perf"]["decode"]["compute_seconds"] == pytest.approx(compute)
    assert r["comm"]["decode_seconds_per_step"] == 0
    assert r["perf"]["tpot_seconds"] == pytest.approx(max(memory, compute))
    assert r["perf"]["bound"] == ("memory" if memory > compute else "compute")
    assert r["cost"]["usd_per_million_output_tokens"] == pytest.approx(0.001 * max(memory, compute) * 1e6)
    # one GPU holds everything: per-GPU weights are the model's weights
    assert r["memory"]["per_gpu"]["weights_bytes"] == pytest.approx(w["bytes"])


def test_per_gpu_weights_by_hand(tiny, round_catalog):
    """TP2 x DP2, EP4 (ETP 1): attention, dense FFN, shared expert, embedding and lm_head / 2;
    routed experts: one of the 4 experts per GPU = routed / 4; router and norms replicated."""
    r = _run(tiny, round_catalog, gpus=4, tp=2, dp=2, ep=4)
    w = r["weights"]["by_component"]
    per = r["memory"]["per_gpu"]["weights_by_component"]
    for c in ("attention", "dense_ffn", "shared_experts", "embedding", "lm_head"):
        assert per[c] == pytest.approx(w[c] / 2)
    assert per["routed_experts"] == pytest.approx(w["routed_experts"] / 4)
    assert per["router"] == pytest.approx(w["router"])
    assert per["norms"] == pytest.approx(w["norms"])
    assert r["deployment"]["expert_tp"] == 1


def test_uneven_experts_fullest_rank_and_redundancy(tiny, round_catalog):
    """4 experts over EP3 (expected loads, no batch fluctuation): the fullest rank holds
    ceil(4/3) = 2 (imbalance 2 x 3/4 = 1.5) and the output says so. 2 redundant experts make 6
    slots, 2 per rank, but a replica takes half its expert's tokens: slots (1/4, 1/4, 1/8 x 4)
    pack at best as (1/4 + 1/8, 1/4 + 1/8, 1/8 + 1/8), so the fullest rank still carries 3/8 of
    the routed work: imbalance 3 x 3/8 = 1.125. The batch's own fluctuation only adds to both."""
    steady = replace(IDEAL, load_fluctuation=False)
    r = _run(tiny, round_catalog, steady, gpus=3, tp=1, dp=3, ep=3)
    assert r["perf"]["expert_slots_per_rank"] == 2
    assert r["perf"]["expert_imbalance"] == pytest.approx(1.5)
    assert any("do not divide" in n for n in r["deployment"]["notes"])
    even = _run(tiny, round_catalog, steady, gpus=3, tp=1, dp=3, ep=3, redundant_experts=2)
    assert even["perf"]["expert_imbalance"] == pytest.approx(1.125)
    assert not any("do not divide" in n for n in even["deployment"]["notes"])
    for fluctuating, expected in ((_run(tiny, round_catalog, gpus=3, tp=1, dp=3, ep=3), r),
                                  (_run(tiny, round_catalog, gpus=3, tp=1, dp=3, ep=3, redundant_experts=2), even)):
        assert fluctuating["perf"]["expert_imbalance"] > expected["perf"]["expert_imbalance"]


def test_mla_cache_is_replicated_under_tp_and_gqa_is_split():
    """DeepSeek-V3 (MLA): every TP rank holds the whole latent cache; Llama-3.1-70B (8 kv
    heads): TP8 splits it 8 ways, TP16 cannot go below one kv head per rank."""
    ds, _ = load("deepseek-v3")
    r = estimate(ds, Workload(batch=8, context=4096), Assumptions(), "t", Deployment(gpu="h200", gpus=8, tp=8))
    assert r["memory"]["per_gpu"]["kv_cache_bytes"] == pytest.approx(r["kv_cache"]["bytes"])
    dp = estimate(ds, Workload(batch=8, context=4096), Assumptions(), "t",
                  Deployment(gpu="h200", gpus=8, tp=1, dp=8))
    assert dp["memory"]["per_gpu"]["kv_cache_bytes"] == pytest.approx(r["kv_cache"]["bytes"] / 8)
    llama, _ = load("llama-3.1-70b")
    for tp, share in ((8, 1 / 8), (16, 1 / 8)):
        g = estimate(llama, Workload(batch=4, context=4096), Assumptions(), "t",
                     Deployment(gpu="h100", gpus=tp, tp=tp))
        assert g["memory"]["per_gpu"]["kv_cache_bytes"] == pytest.approx(g["kv_cache"]["bytes"] * share)


# -- the claims issue 3 must meet ----------------------------------------------------------
def _fits(name, gpu, gpus=None, weights=None, **kw):
    spec, label = load(name)
    return estimate(spec, Workload(weights_dtype=weights, **kw), Assumptions(), label,
                    Deployment(gpu=gpu, gpus=gpus))


def test_deepseek_v3_fp8_fits_8_h200_not_8_h100():
    assert _fits("deepseek-v3", "h200", 8, "fp8")["memory"]["fits"]
    h100 = _fits("deepseek-v3", "h100", 8, "fp8")
    assert not h100["memory"]["fits"]
    assert h100["memory"]["per_gpu"]["weights_bytes"] > h100["memory"]["capacity_per_gpu_bytes"]


def test_mixtral_bf16_needs_two_80gb_gpus():
    assert not _fits("mixtral-8x7b", "h100", 1, "bf16")["memory"]["fits"]
    for gpu in ("h100", "a100-80gb"):
        chosen = _fits("mixtral-8x7b", gpu, None, "bf16")
        assert chosen["deployment"]["gpus"] == 2 and chosen["memory"]["fits"]


def test_gpt_oss_120b_mxfp4_fits_one_80gb_gpu():
    for gpu in ("h100", "a100-80gb"):
        r = _fits("gpt-oss-120b", gpu, 1, "mxfp4")
        assert r["memory"]["fits"] and r["weights"]["dtype"] == "mxfp4"


def test_default_layout_is_the_smallest_that_fits():
    r = _fits("deepseek-v3", "h100", None)
    assert r["deployment"]["gpus"] == 16 and r["memory"]["fits"]
    assert not _fits("deepseek-v3", "h100", 8)["memory"]["fits"]


# -- identities ------------------------------------------------------------------------------
LAYOUTS = st.sampled_from([(1, 1, 1, 1), (2, 1, 1, 2), (2, 2, 1, 4), (1, 4, 1, 4), (2, 2, 1, 2),
                           (1, 2, 2, 2), (4, 1, 2, 4), (1, 3, 1, 3), (2, 1, 2, 1)])


@settings(max_examples=60, deadline=None)
@given(layout=LAYOUTS, batch=st.integers(1, 300), context=st.integers(1, 5000),
       redundant=st.sampled_from([0, 2]))
def test_breakdowns_sum_and_fit_search_is_tight(layout, batch, context, redundant):
    tp, dp, pp, ep = layout
    redundant = redundant if ep > 1 else 0          # replicas need EP ranks to live on
    spec = tiny_spec()
    catalog = load_catalog()
    r = estimate(spec, Workload(batch=batch, context=context), Assumptions(), "t",
                 Deployment(gpu="l4", gpus=tp * dp * pp, tp=tp, dp=dp, pp=pp, ep=ep, redundant_experts=redundant),
                 catalog)
    m, pg = r["memory"], r["memory"]["per_gpu"]
    # sharding loses no weight and no cache: the fullest GPU times the GPU count holds at least
    # the whole model (replicated parts and redundant experts only add), and one GPU no more than
    # the model with its R redundant copies of the tiny spec's 4 experts
    gpus = tp * dp * pp
    assert gpus * pg["weights_bytes"] >= r["weights"]["bytes"] * (1 - 1e-12)
    assert pg["weights_bytes"] <= r["weights"]["bytes"] * (1 + redundant / 4) * (1 + 1e-12)
    assert gpus * pg["kv_cache_bytes"] >= r["kv_cache"]["bytes"] * (1 - 1e-12)
    # the largest batch fits, one more replica's worth does not
    mb = m["max_batch"]
    run = lambda b, c: estimate(spec, Workload(batch=b, context=c), Assumptions(), "t",  # noqa: E731
                                Deployment(gpu="l4", gpus=tp * dp * pp, tp=tp, dp=dp, pp=pp, ep=ep,
                                           redundant_experts=redundant), catalog)["memory"]["fits"]
    if 0 < mb < 2**24:
        assert run(mb, context) and not run(mb + dp, context)
    mc = m["max_context"]
    if mc is not None and mc > 0:
        assert run(batch, mc) and not run(batch, mc + 1)
    assert r["perf"]["tpot_overlap_seconds"] <= r["perf"]["tpot_no_overlap_seconds"] + 1e-15


def test_serve_over_arrays_equals_a_loop_of_estimates(tiny):
    """A broadcast evaluation over layouts and batches equals one estimate per configuration."""
    from moecalc.engine import records as rec
    from moecalc.engine.scenario import Scenario
    from moecalc.hardware import hardware_record

    catalog = load_catalog()
    _, acc = catalog.gpu("h100")
    a = Assumptions()
    layouts = [(1, 1, 1, 1), (2, 1, 1, 2), (2, 2, 1, 4), (1, 2, 2, 2)]
    batches = np.array([1, 7, 64])
    tp, dp, pp, ep = (np.array([x[i] for x in layouts])[:, None] for i in range(4))
    hardware, _ = hardware_record(acc, catalog, "bf16", a)
    grid = Scenario(tiny.numbers(), rec.Workload(context=2048, batch=batches), a.precision("bf16", "bf16"),
                    a.runtime(), rec.Layout(tp=tp, dp=dp, pp=pp, ep=ep, gpus_per_node=8), hardware).serve()
    full = (len(layouts), len(batches))
    for i, (t, d, p, e) in enumerate(layouts):
        for j, b in enumerate(batches):
            one = estimate(tiny, Workload(batch=int(b), context=2048), a, "t",
                           Deployment(gpu="h100", gpus=t * d * p, tp=t, dp=d, pp=p, ep=e), catalog)
            assert np.broadcast_to(grid.memory.total, full)[i, j] == pytest.approx(one["memory"]["per_gpu_bytes"], rel=1e-12)
            assert np.broadcast_to(grid.tpot, full)[i, j] == pytest.approx(one["perf"]["tpot_seconds"], rel=1e-12)
            assert np.broadcast_to(grid.ttft, full)[i, j] == pytest.approx(one["perf"]["ttft_seconds"], rel=1e-12)
            assert np.broadcast_to(grid.memory.max_batch, full)[i, j] == one["memory"]["max_batch"]


def test_served_prefill_is_priced_on_use_pickles_and_takes_a_matching_memory(tiny):
    """``Served.prefill`` is priced on first use, equal to the prefill the record reported
    before (a sweep without a TTFT limit never asks), and the router's load for a prompt is
    solved only then; a ``Served`` pickles with both unpriced;
    a memory handed to ``serve`` is used as is, and one computed without limits is refused
    where limits are asked for."""
    import pickle

    from moecalc.engine import records as rec
    from moecalc.engine.routing import RoutingCache
    from moecalc.engine.scenario import Scenario
    from moecalc.hardware import hardware_record

    catalog = load_catalog()
    _, acc = catalog.gpu("h100")
    a = Assumptions()
    hardware, _ = hardware_record(acc, catalog, "bf16", a)
    scenario = Scenario(tiny.numbers(), rec.Workload(context=2048, batch=np.array([1, 8])), a.precision("bf16", "bf16"),
                        a.runtime(), rec.Layout(tp=2, dp=1, pp=1, ep=2, gpus_per_node=8), hardware)
    ev = scenario.evaluate()
    cache = RoutingCache()
    served = scenario.serve(ev, cache=cache, limits=False)
    assert "prefill" not in served.__dict__                         # not priced yet
    memo = [key for b in cache.batches.values() for key in b.memo]
    assert ("load", 2048.0) not in memo                             # nor the prompt's router load solved
    again = pickle.loads(pickle.dumps(served))
    assert again.ttft.tolist() == served.ttft.tolist() and served.ttft.min() > 0
    assert ("load", 2048.0) in [key for b in cache.batches.values() for key in b.memo]
    assert np.shape(served.routing.prefill_imbalance) == np.shape(served.ttft) == ()     # one prompt: no batch axis
    memory = scenario.memory(ev)
    handed = scenario.serve(ev, limits=False, memory=memory)
    assert handed.memory is memory and handed.tpot.tolist() == served.tpot.tolist()
    with pytest.raises(ValueError, match="without limits"):
        scenario.serve(ev, memory=memory)
