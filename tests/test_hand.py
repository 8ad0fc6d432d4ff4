"""Hand-computed checks of the serving formulas the review found untested: a step's overlap and
pipeline, the TP all-reduce count, the pipeline transfer, per-stage embedding placement,
``largest_fitting``, ``compute_dtype_for`` and the summary adapter; and the two broadcast bugs
(mixed node limits, an array of redundant experts) on mixed arrays. Each derivation is in the
docstring; the hardware is round numbers so the arithmetic can be done on paper."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from moecalc.assumptions import Assumptions
from moecalc.engine.alltoall import destinations
from moecalc.engine.fit import largest_fitting
from moecalc.engine.layout import weight_bytes_per_gpu
from moecalc.engine.model import Summary, from_summary
from moecalc.engine.records import Breakdown, Hardware, Layout, Link
from moecalc.engine.records import Workload as W
from moecalc.engine.results import Step
from moecalc.engine.routing import RoutingCache, SkewedRouter
from moecalc.engine.schedule import GQA
from moecalc.estimate import Workload, model_scenario
from moecalc.hardware import compute_dtype_for, load_catalog
from moecalc.spec.load import load

UP, OUT = Link(1e11, 1e-6, 1.0), Link(1e10, 1e-5, 1.0)
ROUND = Hardware(memory_capacity=1e12, hbm_bandwidth=1e12, peak_flops=1e15, scale_up=UP, scale_out=OUT,
                 price_per_hour=1.0)


def served(model: str, batch: int = 1, **layout):
    spec, _ = load(model)
    scenario, _, _, _ = model_scenario(spec, Workload(context=1024, batch=batch), Assumptions.for_profile("bound", load_fluctuation=False))
    return replace(scenario, layout=Layout(**layout), hardware=ROUND).serve(cache=RoutingCache())


def test_step_overlap_and_pipeline_by_hand():
    """compute 3, memory 2, communication 1, 4 stages, transfers 0.5:
    apart 4 x (max(3, 2) + 1) + 0.5 = 16.5; overlapped 4 x max(3, 1) + 0.5 = 12.5; with
    communication 5 overlap hides the roofline instead: 4 x 5 + 0.5 = 20.5."""
    step = Step(compute=3.0, memory=2.0, communication=1.0, pipeline=0.5, stages=4, overlap=False)
    assert step.seconds == 16.5 and step.no_overlap_seconds == 16.5 and step.overlap_seconds == 12.5
    assert replace(step, overlap=True).seconds == 12.5
    assert replace(step, communication=5.0, overlap=True).seconds == 20.5
    mixed = replace(step, overlap=np.array([False, True]))
    assert mixed.seconds.tolist() == [16.5, 12.5]
    assert int(step.bound) == 0 and int(replace(step, memory=4.0).bound) == 1
    assert int(replace(step, communication=5.0).bound) == 2


def test_tp_allreduce_count_by_hand():
    """Mixtral (32 layers, all MoE) on TP2 without EP: two all-reduces per layer (after attention
    and after the TP-split experts), 64 per step, each a ring of 2 over 1 x 4096 x 2 B:
    2 (1/2) 8192 / 1e11 + 1 us = 1.08192 us -> 69.24 us. With EP2 the experts' combine takes the
    second one's place: 32 all-reduces + 32 all-to-alls."""
    ar = 2 * 0.5 * 8192 / 1e11 + 1e-6
    tp_only = served("mixtral-8x7b", tp=2, ep=1)
    assert float(tp_only.decode.communication) == pytest.approx(64 * ar, rel=1e-12)
    with_ep = served("mixtral-8x7b", tp=2, ep=2)
    a2a = float(with_ep.alltoall.scaleup_seconds)
    assert a2a > 0
    assert float(with_ep.decode.communication) == pytest.approx(32 * ar + 32 * a2a, rel=1e-12)
    dense = served("llama-3.1-8b", tp=2)                     # 32 layers: attention + FFN
    assert float(dense.decode.communication) == pytest.approx(64 * ar, rel=1e-12)
    # Nemotron-3-Nano's 52 single-block layers (23 Mamba-2, 6 attention, 23 MoE) end in one
    # all-reduce each, not two: 52 of 1 x 2688 x 2 B
    hybrid = served("nemotron-3-nano-30b-a3b", tp=2, ep=1)
    assert float(hybrid.decode.communication) == pytest.approx(52 * (2 * 0.5 * 5376 / 1e11 + 1e-6), rel=1e-12)


def test_dsa_decode_reads_by_hand():
    """DeepSeek-V3.2 decoding at 65,536 tokens: its indexer reads the 128-value index key of every
    held token, its attention the 576-value latent of the 2,048 it selects: per layer
    128 x 65,536 + 576 x 2,048 = 9,568,256 values, 61 layers, 1 B each (what it holds: 704 x 65,536)."""
    from moecalc.engine.serve import kv_bytes_per_sequence, kv_read_bytes_per_sequence

    m = load("deepseek-v3.2")[0].numbers()
    read = float(kv_read_bytes_per_sequence(m, 1.0, 65536.0, 1.0, 1.0))
    assert read == 61 * (128 * 65536 + 576 * 2048)
    assert float(kv_bytes_per_sequence(m, 1.0, 65536.0, 1.0, 1.0)) == 61 * 704 * 65536
    dense = load("deepseek-v3")[0].numbers()                 # no indexer: it reads what it holds
    assert float(kv_read_bytes_per_sequence(dense, 1.0, 4096.0, 1.0, 1.0)) == 61 * 576 * 4096


def test_pipeline_step_by_hand():
    """Mixtral on PP2: each stage holds 16 of 32 layers, so its compute is half the single
    stage's; the step runs both stages in turn and hands 1 x 4096 x 2 B across once:
    8192 / 1e11 + 1 us on the scale-up link; 8192 / 1e10 + 10 us when the two GPUs are on two
    nodes (gpus_per_node 1)."""
    one, two = served("mixtral-8x7b"), served("mixtral-8x7b", pp=2)
    assert float(two.decode.compute) == pytest.approx(float(one.decode.compute) / 2, rel=1e-12)
    assert float(two.decode.pipeline) == pytest.approx(8192 / 1e11 + 1e-6, rel=1e-12)
    d = two.decode
    assert float(d.seconds) == pytest.approx(2 * (max(float(d.compute), float(d.memory)) + float(d.communication))
                                             + 8192 / 1e11 + 1e-6, rel=1e-12)
    apart = served("mixtral-8x7b", pp=2, gpus_per_node=1)
    assert float(apart.decode.pipeline) == pytest.approx(8192 / 1e10 + 1e-5, rel=1e-12)


def test_embedding_and_lm_head_per_stage_by_hand():
    """3 layers over PP2: the fullest stage has 2 of 3 layers; attention 80 B / TP2 x 2/3;
    the embedding (first stage) and the lm_head (last) are vocab-parallel over TP and on
    different stages, so the fullest GPU holds the larger: max(100, 60) / 2 = 50, and no
    lm_head. On one stage both sit together: 50 + 30."""
    w = Breakdown({"embedding": 100.0, "attention": 80.0, "routed_experts": 0.0, "norms": 3.0, "lm_head": 60.0})
    two = weight_bytes_per_gpu(w, 0, Layout(tp=2, pp=2), 3)
    assert dict(two) == pytest.approx({"embedding": 50.0, "attention": 80 / 2 * 2 / 3, "routed_experts": 0.0,
                                       "norms": 3 * 2 / 3, "lm_head": 0.0})
    one = weight_bytes_per_gpu(w, 0, Layout(tp=2), 3)
    assert one["embedding"] == 50 and one["lm_head"] == 30 and one["norms"] == 3
    both = weight_bytes_per_gpu(w, 0, Layout(tp=2, pp=np.array([1, 2])), 3)
    assert both["lm_head"].tolist() == [30.0, 0.0] and both["embedding"].tolist() == [50.0, 50.0]


def test_p2p_by_hand():
    """1 MB at 50 GB/s x 0.8 + 2 us = 25 us + 2 us."""
    assert Link(5e10, 2e-6, 0.8).seconds(1e6) == pytest.approx(27e-6)


def test_largest_fitting_by_hand():
    """f = 10 + 3x up to x = 4 (22), then 22 + 5 (x - 4): capacity 30 -> x = 4 + 8/5 = 5.6;
    capacity 16 -> 2; 12 -> 0 (f(1) = 13 does not fit); 1e9 -> the upper bound."""
    def f(x):
        x = np.asarray(x, dtype=float)
        return np.where(x <= 4, 10 + 3 * x, 22 + 5 * (x - 4))

    got = largest_fitting(f, [4.0], np.array([30.0, 16.0, 12.0, 1e9]), upper=1000.0)
    assert got.tolist() == pytest.approx([5.6, 2.0, 0.0, 1000.0])


def test_compute_dtype_for_by_hand():
    """fp8 weights run fp8 GEMMs on an H100 but bf16 on an A100 (no fp8 tensor cores); int4 is
    W4A16 (bf16); mxfp4 runs fp4 on a B200; an override the GPU lacks is an error."""
    from moecalc.errors import MoecalcError

    catalog = load_catalog()
    h100, a100, b200 = (catalog.gpu(n)[1] for n in ("h100", "a100-80gb", "b200"))
    assert compute_dtype_for(h100, "fp8") == "fp8"
    assert compute_dtype_for(a100, "fp8") == "bf16"
    assert compute_dtype_for(h100, "int4") == "bf16"
    assert compute_dtype_for(b200, "mxfp4") == "fp4" and compute_dtype_for(h100, "mxfp4") == "bf16"
    assert compute_dtype_for(a100, "bf16", "fp16") == "fp16"
    with pytest.raises(MoecalcError, match="no fp8 peak"):
        compute_dtype_for(a100, "bf16", "fp8")


def test_summary_adapter_by_hand():
    """Total 100e9, active 40e9, E 8, k 2, 10 layers, h 1000, vocab 1000, untied, 8 heads of
    128 (GQA 2 kv heads): embedding = lm_head = 1e6; routed = (100 - 40)e9 x 8 / 6 = 80e9; the
    assumptions: every layer MoE (10) and the widest activation max(8 x 128, 4 x 1000) = 4000,
    each overridable (moe_layers 5, widest 9000)."""
    attention = GQA(num_heads=8, num_kv_heads=2, head_dim=128, v_head_dim=128)
    s = Summary(total_params=100 * 10**9, active_params=40 * 10**9, num_experts=8, top_k=2, num_layers=10,
                hidden_size=1000, vocab_size=1000, tie_embeddings=False, attention=attention,
                span=np.full(10, 2**62), chunked=np.zeros(10, bool), quantized=("routed_experts",))
    m = from_summary(s)
    assert m.params.total == 100 * 10**9 and m.params.active == 40 * 10**9
    assert m.params.by_component["routed_experts"] == 80 * 10**9
    assert m.params.embedding == m.params.lm_head == 10**6
    assert (m.num_moe_layers, m.widest_activation) == (10, 4000)
    assert m.quantized == ("routed_experts",)
    assert m.cache_elements == 2 * 2 * 128                 # per layer: (K and V) x kv heads x d
    assert int(m.attention[0].count.sum()) == 10            # over all 10 layers
    m2 = from_summary(replace(s, moe_layers=5, widest_activation=9000))
    assert (m2.num_moe_layers, m2.widest_activation) == (5, 9000)


# --------------------------------------------------------------------------- the two broadcast bugs


def test_node_limit_broadcasts_over_mixed_rows():
    """DeepSeek-V3 (256 experts, top-8, 8 groups of which a token uses 4) on EP8 over 2 nodes: a
    row with no node limit (the group limit holds: 3.18 other ranks per token) next to one with
    a node limit of 4 (which replaces the group limit: 4.63). The mixed call used to branch on
    'all rows unlimited' and gave the unlimited row 4.63."""
    unlimited = destinations(256, 8, 8, 2, np.inf, 8, 4)
    limited = destinations(256, 8, 8, 2, 4.0, 8, 4)
    mixed = destinations(256, 8, np.array([8, 8]), np.array([2, 2]), np.array([np.inf, 4.0]), 8, 4)
    assert float(np.asarray(mixed[0])[0]) == pytest.approx(3.175, abs=1e-3)
    assert float(np.asarray(mixed[0])[1]) == pytest.approx(4.633, abs=1e-3)
    for i, row in enumerate((unlimited, limited)):
        for got, want in zip(mixed, row):
            assert float(np.asarray(got)[i]) == pytest.approx(float(want), rel=1e-12)


def test_redundant_experts_broadcast_through_a_skewed_router():
    """An array of redundant slots (0 and 32) through a skewed router gives each row what a
    scalar call gives; it used to raise TypeError at int(redundant)."""
    spec, _ = load("deepseek-v3")
    m = spec.numbers()
    pi = np.linspace(2.0, 0.5, m.num_experts)
    router = SkewedRouter(m.num_experts, m.top_k, 0, 0, pi=pi * m.top_k / pi.sum(), capacity_factor=None,
                          overflow="drop")
    cache = RoutingCache()

    rows = [router.terms(Layout(ep=32, redundant_experts=r, tp=1, dp=32), 4, W(context=1024, batch=64), True, cache)
            for r in (0, 32)]
    both = router.terms(Layout(ep=32, redundant_experts=np.array([0, 32]), tp=1, dp=32), 4,
                        W(context=1024, batch=64), True, cache)
    for i, row in enumerate(rows):
        assert float(np.asarray(both.imbalance)[i]) == pytest.approx(float(row.imbalance), rel=1e-12)
        assert float(np.asarray(both.touched_fraction)[i]) == pytest.approx(float(row.touched_fraction), rel=1e-12)
    assert float(rows[1].imbalance) < float(rows[0].imbalance)     # replicas even the hottest rank out
