"""Identities that must hold for any architecture and workload (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecalc.assumptions import Assumptions
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
from moecalc.engine.evaluate import evaluate
from moecalc.engine import records as rec
from moecalc.estimate import Workload, estimate
from moecalc.spec.load import validate_spec


@st.composite
def specs(draw):
    heads = draw(st.sampled_from([1, 2, 4, 8]))
    kv = draw(st.sampled_from([d for d in (1, 2, 4, 8) if heads % d == 0]))
    layers = draw(st.integers(1, 12))
    experts = draw(st.integers(1, 64))
    mla = draw(st.booleans())
    if mla:
        attention = {"type": "mla", "num_heads": heads, "q_lora_rank": draw(st.integers(0, 64)),
                     "kv_lora_rank": draw(st.integers(1, 64)), "qk_nope_head_dim": draw(st.integers(1, 32)),
                     "qk_rope_head_dim": draw(st.integers(1, 16)), "v_head_dim": draw(st.integers(1, 32))}
    else:
        attention = {"type": "gqa", "num_heads": heads, "num_kv_heads": kv, "head_dim": draw(st.integers(1, 64)),
                     "qkv_bias": draw(st.booleans()), "o_bias": draw(st.booleans()),
                     "qk_norm": draw(st.sampled_from(["none", "per_head", "full"])), "sinks": draw(st.booleans())}
        kind = draw(st.sampled_from(["full", "sliding", "chunked"]))
        if kind != "full":
            attention["layer_types"] = [kind, "full"] if layers > 1 else [kind]
            attention["sliding_window" if kind == "sliding" else "chunk_size"] = draw(st.integers(1, 4096))
    spec = {
        "name": "prop", "hidden_size": draw(st.integers(1, 512)), "num_layers": layers,
        "vocab_size": draw(st.integers(1, 5000)), "tie_embeddings": draw(st.booleans()),
        "norm_bias": draw(st.booleans()), "attention": attention,
        "ffn": {"intermediate_size": draw(st.integers(1, 1024)), "gated": draw(st.booleans()),
                "bias": draw(st.booleans())},
        "mtp_layers": draw(st.integers(0, 2)),
    }
    if draw(st.booleans()):
        spec["moe"] = {"num_experts": experts, "top_k": draw(st.integers(1, experts)),
                       "expert_intermediate_size": draw(st.integers(1, 512)),
                       "num_shared_experts": draw(st.integers(0, 2)), "router_bias": draw(st.booleans()),
                       "expert_bias": draw(st.booleans()), "shared_expert_gate": draw(st.booleans()),
                       "first_k_dense": draw(st.integers(0, layers)), "every_n": draw(st.integers(1, 3))}
    spec["dtypes"] = {"weights": draw(st.sampled_from(sorted(WEIGHT_DTYPES))),
                      "kv_cache": draw(st.sampled_from(sorted(KV_DTYPES)))}
    return validate_spec(spec, "hypothesis")


workloads = st.builds(Workload, context=st.integers(1, 1 << 20), batch=st.integers(1, 4096))


def _mean_prefill_keys(context: int, span: float, chunked: bool) -> float:
    """Keys per query averaged over a causal prompt, query by query: query i (1-based) sees
    min(i, S) keys under a window S (S unbounded: i), ((i - 1) mod C) + 1 under chunks of C."""
    i = np.arange(1, context + 1, dtype=np.float64)
    keys = (np.mod(i - 1, span) + 1) if chunked else np.minimum(i, span)
    return float(keys.mean())


@settings(max_examples=150, deadline=None)
@given(specs(), st.integers(1, 1 << 14), st.integers(1, 64))
def test_cache_and_attention_flops_equal_a_per_layer_loop(spec, context, batch):
    """The engine reduces layers to a few attention groups; a plain loop over the spec's layers
    (cache: batch x min(context, span) x values x bytes; attention FLOPs: 2 n (d_qk + d_v) per
    key, keys counted query by query for the prefill) gives the same numbers."""
    r = estimate(spec, Workload(context=context, batch=batch))
    kv_bytes = KV_DTYPES[spec.dtypes.kv_cache].bytes
    cache = decode = prefill = 0.0
    for layer in spec.to_schedule().layers:
        a = layer.attention
        cache += batch * min(context, layer.span) * a.cache_elements * kv_bytes
        decode += 2 * a.num_heads * sum(a.decode_dims) * min(context, layer.span)
        prefill += 2 * a.num_heads * sum(a.prefill_dims) * _mean_prefill_keys(context, layer.span, layer.chunked)
    assert r["kv_cache"]["bytes"] == pytest.approx(cache, rel=1e-12)
    assert r["flops"]["decode"]["attention"] == pytest.approx(decode, rel=1e-12, abs=1e-9)
    assert r["flops"]["prefill"]["attention"] == pytest.approx(prefill, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(specs())
def test_weight_bytes_follow_the_dtype_of_each_component(spec):
    """Matrices of the quantized components take the weight dtype's bits, everything else (other
    matrices, vectors) the unquantized dtype's (bf16) when the weight dtype is quantized."""
    r = estimate(spec)
    p = spec.numbers().params
    d = WEIGHT_DTYPES[spec.dtypes.weights]
    base = WEIGHT_DTYPES["bf16"].bits if d.quantized else d.bits
    quantized = set(r["weights"]["quantized_components"]) if d.quantized else set(p.matrix)
    want = sum(n * (d.bits if c in quantized else base) for c, n in p.matrix.items()) / 8
    want += sum(p.vector.values()) * base / 8
    assert r["weights"]["bytes"] == pytest.approx(want, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(specs(), workloads)
def test_active_within_total_and_cache_bounded(spec, workload):
    r = estimate(spec, workload)
    p, kv = r["params"], r["kv_cache"]
    assert 0 < p["active"] <= p["total"]
    for c, n in p["active_by_component"].items():
        assert 0 <= n <= p["by_component"][c]
    # the cache never holds more than every layer keeping the whole context
    assert kv["bytes"] <= kv["bytes_per_token"] * workload.context * workload.batch * (1 + 1e-12)
    assert r["flops"]["decode"]["attention"] >= 0 and r["flops"]["prefill"]["attention"] >= 0


@settings(max_examples=60, deadline=None)
@given(specs(), st.lists(st.tuples(st.integers(1, 1 << 18), st.integers(1, 512)), min_size=1, max_size=6))
def test_sweep_equals_loop_of_estimates(spec, points):
    """One vectorized evaluate over many workloads equals one estimate per workload."""
    a = Assumptions()
    m = spec.numbers()
    ctx = np.array([c for c, _ in points], dtype=np.float64)
    batch = np.array([b for _, b in points], dtype=np.float64)
    swept = evaluate(m, rec.Workload(context=ctx, batch=batch),
                     a.precision(spec.dtypes.weights, spec.dtypes.kv_cache), a.runtime())
    for i, (c, b) in enumerate(points):
        one = estimate(spec, Workload(context=c, batch=b), a)
        assert np.broadcast_to(swept.vram_floor_bytes, ctx.shape)[i] == one["memory"]["vram_floor_bytes"]
        assert swept.kv_cache_bytes[i] == one["kv_cache"]["bytes"]
        assert swept.decode.per_token[i] == one["flops"]["decode_per_token"]
        assert swept.prefill.per_token[i] == one["flops"]["prefill_per_token"]


@settings(max_examples=100, deadline=None)
@given(specs(), st.integers(1, 64))
def test_more_experts_never_less_memory(spec, extra):
    if spec.moe is None:
        return
    bigger = spec.model_copy(deep=True)
    bigger.moe.num_experts += extra
    small, big = estimate(spec), estimate(bigger)
    if spec.moe_mask().any():
        assert big["params"]["total"] > small["params"]["total"]
    else:
        assert big["params"]["total"] == small["params"]["total"]
    assert big["memory"]["vram_floor_bytes"] >= small["memory"]["vram_floor_bytes"]
    # the router grows by one row per expert; the experts a token uses do not change
    router_growth = int(spec.moe_mask().sum()) * extra * (spec.hidden_size + spec.moe.router_bias)
    assert big["params"]["active"] == small["params"]["active"] + router_growth


@settings(max_examples=100, deadline=None)
@given(specs(), workloads, workloads)
def test_longer_context_never_less_kv(spec, w1, w2):
    lo, hi = sorted((w1.context, w2.context))
    a = estimate(spec, Workload(context=lo, batch=w1.batch))["kv_cache"]["bytes"]
    b = estimate(spec, Workload(context=hi, batch=w1.batch))["kv_cache"]["bytes"]
    assert b >= a


times = st.floats(0.0, 1e3, allow_nan=False)
comm_times = st.one_of(times, st.just(np.inf))        # a vanishing link: inf, NaN after 0 x inf


@given(st.lists(st.tuples(times, times, comm_times, times), min_size=1, max_size=8),
       st.sampled_from([0.0, 0.25, 1.0]), st.sampled_from([1.0, 2.0]), st.sampled_from([0.0, 1e-4]))
def test_step_seconds_are_the_overlap_formula_bit_for_bit(rows, phi, stages, hop):
    """Step._at skips passes when there is no overlap or one stage; for any nonnegative times
    (an infinite communication included) it returns the formula's bits and shape: stages x (max(roofline, phi comm) + (1 - phi) comm +
    overhead) + pipeline, roofline = max(compute, memory)."""
    from moecalc.engine.results import Step

    compute, memory, comm, overhead = (np.array(c) for c in zip(*rows))
    pipeline = np.full(len(rows), hop * (stages - 1))
    step = Step(compute=compute, memory=memory, communication=comm, pipeline=pipeline, stages=np.full(len(rows), stages),
                overlap=phi, overhead=overhead)
    roofline = np.maximum(compute, memory)
    with np.errstate(invalid="ignore"):                # 0 x inf
        formula = stages * (np.maximum(roofline, phi * comm) + (1 - phi) * comm + overhead) + pipeline
        seconds = step.seconds
    assert seconds.tobytes() == formula.tobytes()
    wide = Step(compute=compute, memory=memory, communication=comm, pipeline=np.zeros((2, len(rows))),
                stages=np.ones((2, 1)), overlap=phi, overhead=overhead)        # stages add an axis
    with np.errstate(invalid="ignore"):
        assert wide.seconds.shape == (2, len(rows))
