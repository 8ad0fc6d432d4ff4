"""``moecalc compare``: models side by side, and the dense twins that make an MoE's trade-off
visible: one with the MoE's total parameters (its memory), one with its active parameters (its
compute). Every number is an ``estimate``; nothing here computes a formula of its own.
"""

from __future__ import annotations

from dataclasses import replace

from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, estimate
from moecalc.spec.load import validate_spec
from moecalc.spec.model import ArchitectureSpec

KINDS = ("moe", "dense", "dense-equal-total", "dense-equal-active")
KV_CONTEXTS = (4096, 32768, 131072)          # the table's columns
BY_CONTEXT = (1024, 4096, 16384, 32768, 65536, 131072, 262144, 1048576)   # the JSON's (and the plot's) series
REFERENCE_GPU = "h100"          # "minimum GPUs to fit" is counted on this GPU unless --gpu is given


def _total(spec) -> int:
    return spec.numbers().params.total


def dense_twin(spec: ArchitectureSpec, target: str) -> tuple[ArchitectureSpec, str]:
    """A dense model with the MoE's attention, layers, hidden size, vocabulary and dtypes whose
    FFN width I makes its total equal the MoE's total (``target="total"``) or active count.

    The total is linear in I, so two parameter counts (I = 1 and I = 2) give the slope and the
    width is solved, then rounded to an integer (off by under L (2 + gated) h parameters).
    """
    if not isinstance(spec, ArchitectureSpec):
        raise MoecalcError("dense equivalents need an architecture spec, not a summary", file=spec.name,
                           field="--dense-equivalents")
    if spec.moe is None:
        raise MoecalcError("is already dense", file=spec.name, field="--dense-equivalents")
    p = spec.numbers().params
    goal = p.total if target == "total" else p.active
    data = spec.model_dump(exclude_none=True)
    data.update(moe=None, mtp_layers=0, stated=None, form="architecture")
    data["dtypes"]["quantized_components"] = sorted(
        {"dense_ffn" if c in ("routed_experts", "shared_experts") else c for c in spec.dtypes.quantized_components})

    def with_width(width: int) -> ArchitectureSpec:
        d = dict(data, ffn={"intermediate_size": width, "gated": spec.moe.gated, "bias": spec.moe.expert_bias},
                 name=f"{spec.name} dense-{target}")
        return validate_spec(d, f"{spec.name} dense twin")

    t1, t2 = _total(with_width(1)), _total(with_width(2))
    width = max(1, round(1 + (goal - t1) / (t2 - t1)))
    twin = with_width(width)
    how = (f"dense, same attention, {spec.num_layers} layers, hidden {spec.hidden_size} and dtypes as "
           f"{spec.name}; every layer's FFN {'gated ' if spec.moe.gated else ''}with width {width:,}, solved so that "
           f"its total equals the MoE's {target} parameters ({goal:,})")
    return twin, how


def with_twins(models: list[tuple], dense_equivalents: bool) -> list[tuple]:
    """(spec, label, kind, construction) of each model, each MoE followed by its equal-total and
    equal-active dense twins when ``dense_equivalents``."""
    entries = []
    for spec, label in models:
        moe = spec.numbers().num_experts > 0
        entries.append((spec, label, "moe" if moe else "dense", None))
        if dense_equivalents and moe:
            for target, kind in (("total", "dense-equal-total"), ("active", "dense-equal-active")):
                twin, how = dense_twin(spec, target)
                entries.append((twin, f"{label} ({kind})", kind, how))
    return entries


def compare(models: list[tuple], workload: Workload = Workload(), assumptions: Assumptions = Assumptions(),
            deployment: Deployment | None = None, dense_equivalents: bool = False, catalog=None,
            routing=None, on_progress=None) -> dict:
    """``models``: (spec, label) pairs. Returns {"models": [...]} with ratios to the first column.
    ``on_progress(done, total)``: called as each column (a model or a dense twin) is estimated."""
    entries = with_twins(models, dense_equivalents)
    from moecalc.engine.routing import RoutingCache

    cache = RoutingCache()          # one set of solved routing terms for every estimate below
    out = []
    for spec, label, kind, how in entries:
        w = workload
        d = deployment
        if d is not None and kind != "moe":          # expert options do not apply to dense models
            d = replace(d, ep=None, redundant_experts=0, max_nodes_per_token=None)
        try:
            r = estimate(spec, w, assumptions, label, d, catalog, routing=routing if kind == "moe" else None,
                         cache=cache)
        except MoecalcError as exc:     # say which column broke (a dense twin the user did not write)
            exc.message = f"{spec.name}: {exc.message}"
            raise
        fit_gpu = deployment.gpu if deployment is not None else REFERENCE_GPU
        if deployment is not None and deployment.gpus is None:
            min_gpus = r["deployment"]["gpus"]
        else:
            try:
                min_gpus = estimate(spec, w, assumptions, label, Deployment(gpu=fit_gpu), catalog,
                                    cache=cache)["deployment"]["gpus"]
            except MoecalcError:
                min_gpus = None
        kv, floor = {}, {}
        for c in BY_CONTEXT:            # one sequence at each context: its cache and the memory floor
            at = estimate(spec, Workload(context=c, batch=1, weights_dtype=w.weights_dtype, kv_dtype=w.kv_dtype),
                          assumptions)
            kv[str(c)], floor[str(c)] = at["kv_cache"]["bytes"], at["memory"]["vram_floor_bytes"]
        out.append({"name": r["model"]["name"], "kind": kind, "construction": how,
                    "min_gpus_to_fit": {"gpu": fit_gpu, "gpus": min_gpus}, "kv_cache_by_context": kv,
                    "vram_floor_by_context": floor, **r})
        if on_progress is not None:
            on_progress(len(out), len(entries))
    first = out[0]
    for e in out:
        e["ratios"] = _ratios(e, first)
    for e in out:
        e["verdict"] = verdict(e, out)
    return {"models": out}


RATIO_KEYS = {"params_total": ("params", "total"), "params_active": ("params", "active"),
              "weights_bytes": ("weights", "bytes"), "kv_bytes_per_token": ("kv_cache", "bytes_per_token"),
              "prefill_flops_per_token": ("flops", "prefill_per_token"),
              "decode_flops_per_token": ("flops", "decode_per_token"),
              "tpot_seconds": ("perf", "tpot_seconds"), "tokens_per_s_per_gpu": ("perf", "tokens_per_s_per_gpu"),
              "usd_per_million_output_tokens": ("cost", "usd_per_million_output_tokens")}


def _get(e: dict, path: tuple):
    v = e
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def _ratios(e: dict, first: dict) -> dict:
    out = {}
    for name, path in RATIO_KEYS.items():
        a, b = _get(e, path), _get(first, path)
        if a is not None and b:
            out[name] = a / b
    return out


def verdict(e: dict, everyone: list[dict]) -> str:
    """One sentence: what the model costs in memory and in compute, in dense-model terms."""
    from moecalc.render.units import params as fmt

    p = e["params"]
    if e["kind"] != "moe":
        line = f"{e['name']}: dense, {fmt(p['total'])} parameters read for every token"
    else:
        line = (f"{e['name']}: memory of a {fmt(p['total'])} dense model, compute of a {fmt(p['active'])} one "
                f"({p['total_per_active']:.1f}x fewer matmul FLOPs per token than its memory twin)")
        twin = next((t for t in everyone if t["kind"] == "dense-equal-active" and t["name"].startswith(e["name"])), None)
        mine, theirs = _get(e, ("cost", "usd_per_million_output_tokens")), _get(twin or {}, ("cost", "usd_per_million_output_tokens"))
        if twin is not None and mine and theirs:
            line += (f"; {mine / theirs:.1f}x the $/Mtok of its compute twin on {e['hardware']['name']} "
                     f"({e['deployment']['gpus']} GPUs vs {twin['deployment']['gpus']})")
    return line
