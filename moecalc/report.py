"""The JSON contract of ``moecalc estimate --format json``: a nested dict built from the result
records (``engine.results``; each declares its keys in its ``REPORT`` table) and the names the
library resolved (dtypes, GPU, layout, routing model). ``KEYS`` lists every key with its
meaning, for ``docs/json.md``. Keys are stable; later versions add keys and never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moecalc.engine.dtypes import WEIGHT_DTYPES
from moecalc.engine.model import ModelNumbers
from moecalc.engine.params import ParamBreakdown
from moecalc.engine.records import Out, report
from moecalc.engine.results import ModelResult, Served
from moecalc.engine.routing import FORCED, distinct_experts, effective_experts


@dataclass(frozen=True)
class Key:
    """A key whose value is a name or a setting the library resolved (not an engine number)."""
    key: str
    doc: str


LIBRARY_KEYS = (
    Key("model.name", "the model's name"), Key("model.family", "its family (the config's model_type)"),
    Key("model.form", "architecture (every dimension given) or summary (stated totals)"),
    Key("model.source", "where the numbers come from"), Key("model.spec", "what was loaded (file or bundled name)"),
    Key("model.assumed", "summary form only: the assumptions it needs (moe_layers, widest_activation, "
                         "norms_and_biases), with their values"),
    Key("params.card_active", "the published active count (spec `stated`) beside ours under the closest convention: "
                              "stated, derived, convention, source (null: none stated); params.active keeps its "
                              "definition"),
    Key("weights.dtype", "storage dtype of the quantized components"),
    Key("weights.quantized_components", "components stored in it (empty for an unquantized dtype)"),
    Key("kv_cache.dtype", "KV cache dtype"),
    Key("kv_cache.elements_per_token_per_layer", "values cached per token per attention layer"),
    Key("kv_cache.layers.full", "layers attending to every token"),
    Key("kv_cache.layers.sliding", "layers attending to a sliding window"),
    Key("kv_cache.layers.chunked", "layers attending within chunks (Llama 4)"),
    Key("workload.batch", "concurrent sequences"), Key("workload.context", "context length, tokens"),
    Key("workload.isl", "request workloads: prompt tokens per request"),
    Key("workload.osl", "... output tokens per request"),
    Key("workload.mode", "continuous, static, prefill or decode (null: a decode step at `context`)"),
    Key("workload.mtp_tokens", "MTP draft tokens per decode step (0: none)"),
    Key("pools.prefill", "--mode disaggregated: the prefill pool (gpu, gpus, layout, batch, fits, rates, its price "
                         "and the price_* basis)"),
    Key("pools.decode", "... the decode pool"),
    Key("pools.prefill_per_decode", "prefill instances per decode instance that balance their request rates"),
    Key("pools.layout", "the smallest integer xPyD whose prefill keeps up"),
    Key("pools.gpus", "GPUs over both pools"),
    Key("pools.kv_transfer_seconds", "one prompt's KV cache from the prefill to the decode pool (in TTFT)"),
    Key("perf.model", "which model produced the speeds and costs: calibrated (fitted to published measurements, "
                      "docs/method/calibration.md) or bound (the pure roofline, --assume profile=bound)"),
    Key("perf.band_regime", "calibrated: the residuals a range comes from (batch-1, decode or prefill)"),
    Key("perf.tpot_seconds_range", "calibrated: [low, high] TPOT, the 10th-90th percentile of held-out "
                                   "measured/predicted in this regime (null: a bound has no band)"),
    Key("perf.ttft_seconds_range", "... TTFT"),
    Key("perf.tokens_per_s_per_gpu_range", "... output tokens/s per GPU"),
    Key("perf.input_tokens_per_s_per_gpu_range", "... prompt tokens/s per GPU"),
    Key("cost.usd_per_million_output_tokens_range", "... $ per million output tokens"),
    Key("cost.usd_per_request_range", "... $ per request"),
    Key("workload.weights_dtype", "weight dtype evaluated"), Key("workload.kv_dtype", "KV cache dtype evaluated"),
    Key("assumptions", "every assumption used, with its value (without --gpu: the model-only ones)"),
    Key("warnings", "e.g. a stated total more than its tolerance off the derived count"),
    Key("checkpoint.source", "a checkpoint folder or hub id@commit: what the safetensors headers were read from"),
    Key("checkpoint.files", "its safetensors files"),
    Key("checkpoint.params", "parameters in the headers: elements, MXFP4 and GPTQ packing unpacked, quantization "
                             "scales and stored buffers left out, MTP modules included"),
    Key("checkpoint.bytes", "bytes of every tensor (exact, scales included)"),
    Key("checkpoint.bytes_by_dtype", "... by the dtype the headers give"),
    Key("checkpoint.params_by_component", "the parameters by component, read from the tensor names"),
    Key("checkpoint.scale_bytes", "bytes of quantization scales and zero points"),
    Key("checkpoint.buffer_params", "stored non-parameters (rotary frequencies)"),
    Key("checkpoint.compared_params", "the checkpoint's parameters held against the config (params, less MTP "
                                      "modules the config does not count)"),
    Key("checkpoint.derived_params", "what the config derives for the same parts (the total, plus the MTP "
                                     "modules when both count them)"),
    Key("checkpoint.matches", "checkpoint.compared_params == derived_params"),
    Key("checkpoint.differences_by_component", "on a mismatch: checkpoint minus derived, by component"),
    Key("routing.model", "MoE models: the router model (uniform, zipf, dirichlet, file)"),
    Key("routing.parameter", "its exponent S or concentration ALPHA"), Key("routing.file", "its load profile"),
    Key("routing.seed", "seed of the zipf placement and the Dirichlet draw"),
    Key("routing.capacity_factor", "expert capacity C (null: none)"),
    Key("routing.overflow", "drop or reroute the assignments over capacity"),
    Key("routing.groups", "a group limit G:M given with --groups (none: removed; null: the model's)"),
    Key("routing.describe", "the router in words"),
    Key("routing.profile_layers", "file: routers only: layers (in the file), layer (file:PATH#N; null: pooled), "
                                  "pooled_hottest_x_mean and per_layer_hottest_x_mean {median, max}: how far "
                                  "pooling flattens each layer's hottest expert"),
    Key("routing.effective_experts", "exp(entropy) of the load shares: E when uniform, k when collapsed"),
    Key("routing.hottest_expert_share", "the hottest expert's share of all assignments"),
    Key("routing.experts_always_chosen", "experts every token takes (a collapsed router)"),
    Key("routing.distinct_experts_per_step", "experts a step of `batch` tokens touches per MoE layer"),
    Key("routing.distinct_experts_per_step_uniform", "... under uniform routing"),
    Key("routing.load_fluctuation", "with --gpu: whether the step's own tokens set the hottest rank"),
    Key("deployment.gpu", "with --gpu: the GPU profile's key"), Key("deployment.gpus", "GPUs"),
    Key("deployment.gpus_per_node", "GPUs per scale-up domain"),
    Key("deployment.tp", "tensor parallel size"), Key("deployment.ep", "expert parallel size"),
    Key("deployment.dp", "data parallel size"), Key("deployment.pp", "pipeline stages"),
    Key("deployment.expert_tp", "expert tensor parallel size, tp x dp / ep (null: dense)"),
    Key("deployment.redundant_experts", "replicated expert slots"),
    Key("deployment.max_nodes_per_token", "node-limited routing (null: none)"),
    Key("deployment.nodes", "nodes the deployment spans"),
    Key("deployment.layout_chosen", "given, or how the default layout was chosen"),
    Key("deployment.notes", "remarks on the layout (uneven experts, TP across nodes, no price)"),
    Key("deployment.expert_sharding", "how the routed experts are split, and which stack's convention that is "
                                      "(null: dense)"),
    Key("deployment.serving_flags", "the flags that run this layout: vllm, sglang, trtllm (or why a stack "
                                    "cannot express it)"),
    Key("hardware.name", "the GPU"), Key("hardware.memory_bytes", "its capacity"),
    Key("hardware.memory_basis", "reported GiB or vendor GB label"),
    Key("hardware.hbm_bytes_per_s", "peak HBM bandwidth"),
    Key("hardware.compute_dtype", "tensor-core dtype of the GEMMs (assumption compute_dtype)"),
    Key("hardware.peak_flops", "its dense peak"),
    Key("hardware.scale_up", "scale-up fabric: name, bytes_per_s per direction, latency_s, domain"),
    Key("hardware.scale_out", "scale-out network: name, bytes_per_s per direction, latency_s (null: none)"),
    Key("hardware.price_per_gpu_hour", "USD per GPU-hour (null: unpriced)"),
    Key("hardware.price_source", "provider and date of the price, or --price-per-hour"),
    Key("hardware.price_kind", "what the catalog price is: on-demand, reservation, spot, range-low (the low end "
                               "of a quoted range), whole-instance (a one-GPU VM, its CPUs included) or other "
                               "(null: no catalog price)"),
    Key("hardware.price_date", "YYYY-MM the catalog price is from (null: undated, user-given or no price)"),
    Key("hardware.price_valid_until", "YYYY-MM-DD a rate published with an end date stops holding (null: none)"),
    Key("hardware.price_source_keys", "keys of the reference sources table the catalog price comes from"),
    Key("hardware.price_freshness", "'dated YYYY-MM' (at most 12 months before price_as_of), 'stale' (older, or "
                                    "its validity ended), 'undated', 'user-given' (--price-per-hour; not judged) "
                                    "or null (no price)"),
    Key("hardware.price_as_of", "the day a catalog price was judged on: MOECALC_TODAY (YYYY-MM-DD) or the real "
                                "date (null: none judged)"),
    Key("comm.dispatch_dtype", "all-to-all dispatch payload"), Key("comm.combine_dtype", "combine payload"),
    Key("comm.a2a_kernel", "the all-to-all kernels of a decode step (low-latency: a copy per routed expert; "
                           "normal: one crossing per node)"),
    Key("comm.routing_limit", "the node or group limit that applied (null: none)"),
    Key("cost.price_per_gpu_hour", "= hardware.price_per_gpu_hour"),
    Key("cost.price_source", "= hardware.price_source"),
    Key("cost.price_kind", "= hardware.price_kind"), Key("cost.price_date", "= hardware.price_date"),
    Key("cost.price_valid_until", "= hardware.price_valid_until"),
    Key("cost.price_source_keys", "= hardware.price_source_keys"),
    Key("cost.price_freshness", "= hardware.price_freshness"), Key("cost.price_as_of", "= hardware.price_as_of"),
)


def keys() -> list[tuple[str, str]]:
    """Every documented key with its meaning, in the order the JSON groups them."""
    from moecalc.engine.requests import RequestServed

    shown = {o.key for o in Served.REPORT}
    recorded = [*ParamBreakdown.REPORT, *ModelResult.REPORT, *Served.REPORT, *Served.ROUTING_REPORT,
                *(o for o in RequestServed.REPORT if o.key not in shown)]
    order = ["model", "params", "weights", "kv_cache", "flops", "memory", "workload", "assumptions", "warnings",
             "checkpoint",
             "routing", "deployment", "hardware", "comm", "perf", "cost", "pools"]
    rows = [(k.key, k.doc) for k in (*recorded, *LIBRARY_KEYS)]
    return sorted(rows, key=lambda r: order.index(r[0].split(".")[0]))


ACTIVE_CONVENTIONS = ("every parameter a token uses", "without the input embedding",
                      "without the embedding and the output head")
"""How model cards count active parameters: moecalc's params.active is the first (what a token
reads and multiplies, embedding row and output head included); gpt-oss's card (3.61B for the
20B) leaves out the input embedding; some leave out both."""


def card_active(spec, active: int, embedding: int, lm_head: int) -> dict | None:
    """The published active count beside ours under the convention closest to it:
    {stated, derived, convention, source}; None without a stated active count."""
    stated = getattr(spec, "stated", None)
    if stated is None or not stated.active_params:
        return None
    counts = (active, active - embedding, active - embedding - lm_head)
    i = min(range(3), key=lambda j: abs(counts[j] / stated.active_params - 1))
    return {"stated": float(stated.active_params), "derived": int(counts[i]), "convention": ACTIVE_CONVENTIONS[i],
            "source": stated.source}


def model_sections(spec, label: str | None, m: ModelNumbers, ev: ModelResult, weights_dtype: str, kv_dtype: str,
                   assumptions: dict, warnings: list[str]) -> dict:
    """Everything about the model and its workload (no deployment)."""
    model = {"name": spec.name, "family": spec.family, "form": spec.form, "source": spec.source, "spec": label}
    if spec.form == "summary":
        model["assumed"] = spec.to_summary().assumed
    out = {"model": model}
    report(m.params, out)
    p = m.params
    out["params"]["card_active"] = card_active(spec, int(p.active), int(p.embedding), int(p.lm_head))
    if weights_dtype in WEIGHT_DTYPES:         # (a mixer is listed only where the model has one)
        quantized = [c for c in m.quantized if c != "mixer" or m.params.by_component.get("mixer")] \
            if WEIGHT_DTYPES[weights_dtype].quantized else []
    else:                       # per component (or a GGUF mix): those whose own dtype is quantized
        from moecalc.engine.dtypes import GGUF_MIXES

        own = GGUF_MIXES.get(weights_dtype) or dict(p.split("=") for p in weights_dtype.split(","))
        quantized = [c for c, d in own.items() if WEIGHT_DTYPES[d].quantized]
    out["weights"] = {"dtype": weights_dtype, "quantized_components": quantized}
    out["kv_cache"] = {"dtype": kv_dtype, "elements_per_token_per_layer": m.cache_elements, "layers": m.span_counts}
    report(ev, out)
    out["workload"] = {"batch": int(np.asarray(ev.workload.batch)), "context": int(np.asarray(ev.workload.context)),
                       "weights_dtype": weights_dtype, "kv_dtype": kv_dtype}
    out["assumptions"] = assumptions
    got, notes = spec.checkpoint() if hasattr(spec, "checkpoint") else (None, ())
    warnings = [*warnings, *notes]
    if got is not None:                 # a checkpoint folder or hub repository: its headers against the config
        out["checkpoint"], differs = got.check({c: int(n) for c, n in m.params.by_component.items()},
                                               int(m.params.mtp))
        warnings += differs
    out["warnings"] = warnings
    return out


def routing_section(r, pi: np.ndarray, top_k: int, batch: int) -> dict:
    """The model-only routing section: the router model and its closed forms at this batch."""
    E = len(pi)
    return {**r.as_dict(), "effective_experts": effective_experts(pi), "hottest_expert_share": float(pi.max() / top_k),
            "experts_always_chosen": int((pi >= FORCED).sum()),
            "distinct_experts_per_step": float(distinct_experts(pi, batch)),
            "distinct_experts_per_step_uniform": float(distinct_experts(np.full(E, top_k / E), batch))}


def deployment_sections(out: dict, served: Served, deployment: dict, hardware: dict, comm_names: dict,
                        load_fluctuation: bool) -> dict:
    """Add what serving on a deployment computes: ``deployment``, ``hardware``, per-GPU
    ``memory``, ``comm``, ``perf``, ``cost`` and (MoE) the served ``routing`` terms."""
    out["deployment"] = deployment
    out["hardware"] = hardware
    report(served, out, tuple(o for o in Served.REPORT if not o.key.startswith(("comm.", "perf.", "cost."))))
    out["comm"] = {}
    report(served, out, tuple(o for o in Served.REPORT if o.key.startswith("comm.")))
    out["comm"].update(comm_names)
    report(served, out, tuple(o for o in Served.REPORT if o.key.startswith("perf.")))
    if "routing" in out:
        out["routing"]["load_fluctuation"] = load_fluctuation
        report(served, out, Served.ROUTING_REPORT)
    report(served, out, tuple(o for o in Served.REPORT if o.key.startswith("cost.")))
    out["cost"].update({k: v for k, v in hardware.items() if k.startswith("price_")})   # the price and its basis
    return out


def request_sections(out: dict, requested) -> dict:
    """A request workload: its rates, latencies and costs (``engine.requests.RequestServed``)
    in place of the decode-step ones, under the same keys and new ones."""
    report(requested, out)
    return out


def band_sections(out: dict, profile: str, mode: str | None, batch: int) -> dict:
    """Say which model produced the numbers and, calibrated, give each speed and cost a range:
    a speed v measured/predicted in [lo, hi] of this regime's held-out residuals lies in
    [v lo, v hi]; a time or a cost t in [t / hi, t / lo]."""
    from moecalc.calibration import band, regime

    out["perf"]["model"] = profile
    name = regime(mode, batch) if profile == "calibrated" else None
    out["perf"]["band_regime"] = name
    lo, hi = band(name) if name else (None, None)

    def rng(section, key, speed):
        v = out[section].get(key)
        if v is None or lo is None:
            out[section][key + "_range"] = None
        else:
            out[section][key + "_range"] = [v * lo, v * hi] if speed else [v / hi, v / lo]

    for key, speed in (("tpot_seconds", False), ("ttft_seconds", False), ("tokens_per_s_per_gpu", True),
                       ("input_tokens_per_s_per_gpu", True)):
        rng("perf", key, speed)
    for key in ("usd_per_million_output_tokens", "usd_per_request"):
        rng("cost", key, False)
    return out


SPEED_KEYS = ("ttft_seconds", "tpot_seconds", "tpot_no_overlap_seconds", "tpot_overlap_seconds", "tokens_per_s",
              "tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "tokens_per_s_per_user", "requests_per_s",
              "request_latency_seconds", "tokens_per_step")


def without_speed(out: dict) -> dict:
    """A deployment that does not fit gets no speed and no cost: those keys become null."""
    for k in SPEED_KEYS:
        for key in (k, k + "_range"):
            if key in out["perf"]:
                out["perf"][key] = None
    for k, v in list(out["cost"].items()):
        if not k.startswith("price_"):
            out["cost"][k] = None if not isinstance(v, dict) else {kk: None for kk in v}
    return out


__all__ = ["Key", "band_sections", "request_sections", "without_speed", "LIBRARY_KEYS", "keys", "model_sections", "routing_section", "deployment_sections", "Out"]
