"""The library entry point: a spec and a workload in, a plain nested dict (the JSON contract) out.

``estimate`` evaluates the engine on scalars, i.e. a sweep of size one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
from moecalc.engine.arch import FULL_SPAN
from moecalc.engine.evaluate import evaluate
from moecalc.engine.model import ModelNumbers, attention_shape, from_arch, layer_groups, summary_params
from moecalc.errors import MoecalcError
from moecalc.spec.model import ArchitectureSpec, ModelSpec

if TYPE_CHECKING:   # the serving layer loads only when a deployment is asked for
    from moecalc.deployment import Deployment
    from moecalc.hardware import Catalog
    from moecalc.routing import Routing


@dataclass(frozen=True)
class Workload:
    context: int = 4096
    batch: int = 1
    weights_dtype: str | None = None     # None: the spec's
    kv_dtype: str | None = None


def model_numbers(spec: ModelSpec) -> ModelNumbers:
    """The engine's view of a spec, for either form."""
    quantized = tuple(spec.dtypes.quantized_components)
    if isinstance(spec, ArchitectureSpec):
        return from_arch(spec.to_arch(), quantized)
    at, h = spec.attention, spec.hidden_size
    emb = (spec.vocab_size or 0) * h
    params = summary_params(round(spec.total_params), round(spec.active_params), spec.num_experts,
                            spec.top_k, emb, 0 if spec.tie_embeddings else emb)
    head_dim, v_head_dim = at.dims(h)
    kv, prefill, decode, attn_width = attention_shape(
        "mla" if at.type == "mla" else "gqa", at.num_heads, at.kv_heads or 0, head_dim, v_head_dim,
        at.kv_lora_rank or 0, at.qk_nope_head_dim or 0, at.qk_rope_head_dim or 0)
    span, chunked = at.spans(spec.num_layers)
    summary_quantized = (("routed_experts",) if "routed_experts" in quantized else ()) + (
        ("non_expert",) if set(quantized) - {"routed_experts"} else ())
    # FFN widths are not public in a summary: take the attention width or a 4h FFN, the larger
    return ModelNumbers(params=params, quantized=summary_quantized, num_layers=spec.num_layers,
                        hidden_size=h, vocab_size=spec.vocab_size or 0, num_heads=at.num_heads,
                        kv_elements=kv, **layer_groups(span, chunked), prefill_dims=prefill,
                        decode_dims=decode, widest_intermediate=max(attn_width, 4 * h),
                        num_experts=spec.num_experts, top_k=spec.top_k, num_moe_layers=spec.num_layers,
                        num_kv_heads=at.kv_heads or 1, is_mla=at.type == "mla")


def dtype_bits(weights_dtype: str, assumptions: Assumptions) -> tuple[float, float]:
    """(bits of a quantized matrix parameter, bits of every other parameter)."""
    d = WEIGHT_DTYPES[weights_dtype]
    base = WEIGHT_DTYPES[assumptions.unquantized_dtype].bits if d.quantized else d.bits
    return d.bits, base


def check_dtypes(weights: str | None, kv: str | None) -> None:
    if weights is not None and weights not in WEIGHT_DTYPES:
        raise MoecalcError(f"unknown dtype {weights!r}; known: {', '.join(WEIGHT_DTYPES)}", field="--weights-dtype")
    if kv is not None and kv not in KV_DTYPES:
        raise MoecalcError(f"unknown dtype {kv!r}; known: {', '.join(KV_DTYPES)}", field="--kv-dtype")


def stated_warnings(spec: ModelSpec, total: int, active: int, embedding: int, lm_head: int) -> list[str]:
    """Warn when published totals differ from the derived counts by more than the tolerance (1%).

    Active counts are compared under the three vendor conventions (with both embeddings,
    without the input embedding, without both) and the closest one is used.
    """
    stated = getattr(spec, "stated", None)
    if stated is None:
        return []
    out = []
    if stated.total_params:
        err = total / stated.total_params - 1
        if abs(err) > stated.tolerance:
            out.append(f"derived total {total / 1e9:.2f}B differs from the stated "
                       f"{stated.total_params / 1e9:.2f}B by {err:+.1%}")
    if stated.active_params:
        options = (active, active - embedding, active - embedding - lm_head)
        best = min(options, key=lambda v: abs(v / stated.active_params - 1))
        err = best / stated.active_params - 1
        if abs(err) > stated.tolerance:
            out.append(f"derived active {best / 1e9:.2f}B differs from the stated "
                       f"{stated.active_params / 1e9:.2f}B by {err:+.1%} (closest of three conventions)")
    return out


def estimate(spec: ModelSpec, workload: Workload = Workload(), assumptions: Assumptions = Assumptions(),
             label: str | None = None, deployment: Deployment | None = None,
             catalog: Catalog | None = None, routing: Routing | None = None) -> dict:
    """Every number for one model and one workload, as the documented JSON structure.

    With a ``deployment`` (a GPU type and optionally a layout) the result adds the
    ``deployment``, ``hardware``, ``comm``, ``perf`` and ``cost`` sections and per-GPU memory.
    MoE models get a ``routing`` section; with a ``routing`` (``moecalc.routing.Routing``; None:
    uniform, the model's group limit) the deployment's step time, weights read and all-to-all
    follow that router.
    """
    check_dtypes(workload.weights_dtype, workload.kv_dtype)
    weights_dtype = workload.weights_dtype or spec.dtypes.weights
    kv_dtype = workload.kv_dtype or spec.dtypes.kv_cache
    m = model_numbers(spec)
    if routing is not None:
        from moecalc.routing import apply_groups

        m = apply_groups(m, routing, spec.name)
    quant_bits, base_bits = dtype_bits(weights_dtype, assumptions)
    r = evaluate(m, context=workload.context, batch=workload.batch, quant_bits=quant_bits,
                 base_bits=base_bits, kv_bytes=KV_DTYPES[kv_dtype].bytes,
                 prefill_chunk_tokens=assumptions.prefill_chunk_tokens,
                 activation_bytes=assumptions.activation_bytes, logits_bytes=assumptions.logits_bytes,
                 runtime_overhead_bytes=assumptions.runtime_overhead_bytes)
    x = {k: (float(v) if not isinstance(v, dict) else {c: float(b) for c, b in v.items()}) for k, v in r.items()}
    p = m.params
    total, active = p.total, p.active
    by = p.by_component
    embedding, lm_head = by["embedding"], by["lm_head"]
    span, n = m.layer_span, m.layer_count
    out = {
        "model": {"name": spec.name, "family": spec.family, "form": spec.form, "source": spec.source,
                  "spec": label},
        "params": {
            "total": total, "active": active, "embedding": embedding, "lm_head": lm_head,
            "mtp": sum(p.mtp.values()), "per_expert": p.per_expert,
            "active_fraction": active / total, "total_per_active": total / active,
            "by_component": by, "active_by_component": p.active_by_component, "mtp_by_component": p.mtp,
        },
        "weights": {"bytes": x["weights_bytes"], "dtype": weights_dtype,
                    "quantized_components": list(m.quantized) if WEIGHT_DTYPES[weights_dtype].quantized else [],
                    "bits_per_param": {"quantized": quant_bits, "other": base_bits},
                    "by_component": x["weights_bytes_by_component"]},
        "kv_cache": {"bytes_per_token": x["kv_bytes_per_token"], "bytes": x["kv_cache_bytes"],
                     "dtype": kv_dtype, "elements_per_token_per_layer": m.kv_elements,
                     "layers": {"full": int(n[span >= FULL_SPAN].sum()),
                                "sliding": int(n[(span < FULL_SPAN) & ~m.layer_chunked].sum()),
                                "chunked": int(n[m.layer_chunked].sum())}},
        "flops": {
            "prefill_per_token": x["prefill_flops_per_token"], "decode_per_token": x["decode_flops_per_token"],
            "prefill": {"matmul": x["prefill_matmul_flops"], "attention": x["prefill_attention_flops"]},
            "decode": {"matmul": x["decode_matmul_flops"], "attention": x["decode_attention_flops"]},
        },
        "memory": {k: x[k] for k in ("weights_bytes", "kv_cache_bytes", "activation_workspace_bytes",
                                     "runtime_overhead_bytes", "vram_floor_bytes")},
        "workload": {"batch": workload.batch, "context": workload.context, "weights_dtype": weights_dtype,
                     "kv_dtype": kv_dtype},
        "assumptions": assumptions.as_dict(deployment is not None),
        "warnings": stated_warnings(spec, total, active, embedding, lm_head),
    }
    router = None
    if m.num_experts or (routing is not None and not routing.is_uniform):
        router = _add_routing(out, m, routing, spec.name, workload.batch)
    if deployment is not None:
        from moecalc.hardware import load_catalog

        _add_deployment(out, m, r, workload, weights_dtype, KV_DTYPES[kv_dtype].bytes, assumptions,
                        deployment, catalog or load_catalog(), router)
    return out


def _add_routing(out: dict, m: ModelNumbers, routing: Routing | None, name: str, batch: int):
    """The ``routing`` section (model-only part); returns the engine's RoutingInputs, or None
    for uniform routing (the closed forms of ``engine.layout`` and ``engine.alltoall``)."""
    from moecalc.engine import routing as eng
    from moecalc.routing import Routing, engine_inputs, inclusion

    routing = routing or Routing()
    if not m.num_experts:
        raise MoecalcError(f"{name} has no routed experts to route", field="--routing")
    pi = inclusion(routing, m.num_experts, m.top_k, name)
    out["routing"] = {
        **routing.as_dict(),
        "effective_experts": eng.effective_experts(pi),
        "hottest_expert_share": float(pi.max() / m.top_k),
        "experts_always_chosen": int((pi >= eng.FORCED).sum()),
        "distinct_experts_per_step": float(eng.distinct_experts(pi, batch)),
        "distinct_experts_per_step_uniform": float(eng.distinct_experts(np.full(m.num_experts, m.top_k / m.num_experts), batch)),
    }
    return engine_inputs(routing, m, name)


def _add_deployment(out: dict, m: ModelNumbers, r: dict, workload: Workload, weights_dtype: str,
                    kv_bytes: float, a: Assumptions, d: Deployment, catalog: Catalog, router=None) -> None:
    from moecalc.deployment import check, resolve, serve_inputs
    from moecalc.engine.serve import BOUNDS, MAX_SEARCH, serve

    key, acc = catalog.gpu(d.gpu)
    if d.scale_out is not None:
        catalog.link(d.scale_out, kind="scale-out")
    has_scale_out = (d.scale_out or acc.scale_out) is not None
    common = dict(context=workload.context, batch=workload.batch, kv_bytes=kv_bytes,
                  prefill_chunk_tokens=a.prefill_chunk_tokens, activation_bytes=a.activation_bytes,
                  logits_bytes=a.logits_bytes, runtime_overhead_bytes=a.runtime_overhead_bytes)

    def fits(candidates: list[Deployment]):
        kwargs, _ = serve_inputs(candidates[0], acc, catalog, weights_dtype, a)
        for name in ("tp", "dp", "pp", "ep"):
            kwargs[name] = np.array([getattr(c, name) for c in candidates])
        return serve(m, r, **common, **kwargs)["fits"]

    d, chosen = resolve(m, d, acc, has_scale_out, fits)
    notes = check(m, d, acc, has_scale_out)
    kwargs, hardware = serve_inputs(d, acc, catalog, weights_dtype, a)
    s = serve(m, r, **common, **kwargs, routing=router)
    x = {k: (float(v) if not isinstance(v, dict) else {c: float(b) for c, b in v.items()}) for k, v in s.items()}
    if np.isnan(x["usd_per_hour"]):
        notes.append(f"no published price for the {acc.name} in the profile: give --price-per-hour for $/Mtok")
    max_ctx = int(x["max_context"])
    out["deployment"] = {
        "gpu": key, "gpus": d.gpus, "gpus_per_node": d.gpus_per_node, "tp": d.tp, "ep": d.ep, "dp": d.dp,
        "pp": d.pp, "expert_tp": int(x["expert_tensor_parallel"]) if m.num_experts else None, "redundant_experts": d.redundant_experts,
        "max_nodes_per_token": d.max_nodes_per_token, "nodes": math.ceil(d.gpus / d.gpus_per_node),
        "ep_nodes": int(x["ep_nodes"]),
        "layout_chosen": chosen, "notes": notes}
    out["hardware"] = hardware
    out["memory"].update({
        "per_gpu_bytes": x["per_gpu_bytes"], "capacity_per_gpu_bytes": x["capacity_bytes"],
        "fits": bool(s["fits"]), "max_batch": int(x["max_batch"]),
        "max_context": max_ctx if max_ctx < MAX_SEARCH else None,
        "per_gpu": {"weights_bytes": x["weights_bytes_per_gpu"],
                    "weights_by_component": x["weights_bytes_per_gpu_by_component"],
                    "kv_cache_bytes": x["kv_cache_bytes_per_gpu"],
                    "activation_workspace_bytes": x["activation_bytes_per_gpu"],
                    "runtime_overhead_bytes": x["runtime_overhead_bytes"],
                    "comm_buffer_bytes": x["comm_buffer_bytes"]},
        "sequences_per_replica": int(x["sequences_per_replica"])})
    out["comm"] = {
        "a2a_bytes_per_token_layer": x["a2a_bytes_per_token_layer"],
        "a2a_seconds_per_layer": x["a2a_seconds_per_layer"],
        "a2a_scaleup_seconds_per_layer": x["a2a_scaleup_seconds_per_layer"],
        "a2a_scaleout_seconds_per_layer": x["a2a_scaleout_seconds_per_layer"],
        "remote_ranks_per_token": x["a2a_remote_ranks_per_token"],
        "remote_nodes_per_token": x["a2a_remote_nodes_per_token"],
        "scaleup_transfers_per_token": x["a2a_scaleup_transfers_per_token"],
        "dispatch_dtype": a.dispatch_dtype, "combine_dtype": a.combine_dtype,
        "routing_limit": (f"at most {d.max_nodes_per_token} nodes per token" if d.max_nodes_per_token else
                          f"group-limited to {m.groups_per_token} of {m.expert_groups} expert groups per token"
                          if m.expert_groups else None),
        "decode_seconds_per_step": x["decode_comm_seconds"], "pp_seconds_per_step": x["pp_seconds"]}
    out["perf"] = {
        "ttft_seconds": x["ttft_seconds"], "tpot_seconds": x["tpot_seconds"],
        "tpot_no_overlap_seconds": x["tpot_no_overlap_seconds"], "tpot_overlap_seconds": x["tpot_overlap_seconds"],
        "tokens_per_s": x["tokens_per_s"], "tokens_per_s_per_gpu": x["tokens_per_s_per_gpu"],
        "bound": BOUNDS[int(s["bound"])],
        "decode": {"compute_seconds": x["decode_compute_seconds"], "memory_seconds": x["decode_memory_seconds"],
                   "comm_seconds": x["decode_comm_seconds"], "weights_read_bytes": x["decode_weights_read_bytes"],
                   "experts_touched_fraction": x["experts_touched_fraction"]},
        "prefill": {"compute_seconds": x["prefill_compute_seconds"], "memory_seconds": x["prefill_memory_seconds"],
                    "comm_seconds": x["prefill_comm_seconds"], "expert_imbalance": x["prefill_expert_imbalance"]},
        "expert_imbalance": x["expert_imbalance"], "expert_slots_per_rank": int(x["expert_slots_per_rank"])}
    if "routing" in out:
        out["routing"].update({"straggler": x["expert_imbalance"], "straggler_prefill": x["prefill_expert_imbalance"],
                               "load_fluctuation": a.load_fluctuation,
                               "experts_touched_fraction": x["experts_touched_fraction"],
                               "dropped_share": x["dropped_share"], "rerouted_share": x["rerouted_share"],
                               "a2a_peak_scaleup_transfers": x["a2a_scaleup_peak"],
                               "a2a_peak_remote_nodes": x["a2a_remote_nodes_peak"]})
    price = x["usd_per_hour"]
    out["cost"] = {"usd_per_million_output_tokens": None if np.isnan(price) else x["usd_per_million_output_tokens"],
                   "usd_per_hour": None if np.isnan(price) else price,
                   "price_per_gpu_hour": hardware["price_per_gpu_hour"], "price_source": hardware["price_source"]}
