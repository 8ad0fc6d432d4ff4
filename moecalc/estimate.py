"""The library entry point: a spec and a workload in, a plain nested dict (the JSON contract,
``moecalc.report``) out.

``estimate`` is a scenario of scalars (``engine.scenario``): a sweep of size one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.engine import records as rec
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
from moecalc.engine.scenario import Scenario
from moecalc.errors import MoecalcError
from moecalc.spec.model import ModelSpec

if TYPE_CHECKING:   # the serving layer loads only when a deployment is asked for
    from moecalc.deployment import Deployment
    from moecalc.engine.routing import RoutingCache
    from moecalc.hardware import Catalog
    from moecalc.routers import Routing


@dataclass(frozen=True)
class Workload:
    """What the user asks about: ``batch`` sequences of ``context`` tokens, and dtypes that
    override the spec's (None: the spec's; ``weights_dtype`` may name dtypes per component,
    ``routed_experts=nvfp4,attention=bf16``).

    A request workload gives ``isl`` and ``osl`` (prompt and output tokens per request) and a
    ``mode`` (``engine.requests.MODES``; default continuous); ``batch`` is then the concurrent
    requests, and the cache held is that of ``engine.requests.held_context``. ``mode="decode"``
    with a ``context`` is a decode pool at that KV length. ``mtp_tokens`` drafts per step
    (multi-token prediction), each accepted with ``mtp_acceptance`` (None: the assumption).
    """
    context: int = 4096
    batch: int = 1
    weights_dtype: str | None = None
    kv_dtype: str | None = None
    isl: int | None = None
    osl: int | None = None
    mode: str | None = None
    mtp_tokens: int = 0
    mtp_acceptance: float | None = None

    @property
    def is_requests(self) -> bool:
        return self.isl is not None or self.mode is not None

    @property
    def serving_mode(self) -> str:
        return self.mode or "continuous"

    @property
    def held_context(self) -> int:
        """The KV length memory and fit are judged at."""
        if not self.is_requests:
            return self.context
        from moecalc.engine.requests import held_context

        explicit = self.context if self.isl is None else None
        return int(held_context(self.serving_mode, self.isl or 0, self.osl or 0, explicit))

    @property
    def longest_sequence(self) -> tuple[int, str]:
        """(the longest sequence the workload holds, the options that set it): a request's prompt
        plus its output, else the context."""
        if self.isl is not None:
            return (self.isl or 0) + (self.osl or 0), "--isl + --osl"
        return self.context, "--context"

    def requests(self, acceptance: float):
        from moecalc.engine.requests import Requests

        return Requests(isl=self.isl or 0, osl=self.osl or 1, mode=self.serving_mode,
                        decode_context=self.context if self.isl is None else None, mtp_tokens=self.mtp_tokens,
                        mtp_acceptance=acceptance if self.mtp_acceptance is None else self.mtp_acceptance)


def check_requests(w: Workload, field=lambda n: "--" + n.replace("_", "-")) -> None:
    """The request workload's rules: each mode's lengths, and MTP's range."""
    if w.mode == "disaggregated":
        raise MoecalcError("both pools at once: moecalc.disaggregated (estimate --mode disaggregated)",
                           field=field("mode"))
    if w.mode is not None:
        from moecalc.engine.requests import MODES      # here: a decode-only estimate does not import it

        if w.mode not in MODES:
            raise MoecalcError(f"must be one of {', '.join(MODES)}, got {w.mode!r}", field=field("mode"))
    mode = w.serving_mode
    for name in ("isl", "osl"):
        value = getattr(w, name)
        if value is not None and value < 1:
            raise MoecalcError(f"must be at least 1, got {value}", field=field(name))
    if w.is_requests:
        if mode in ("continuous", "static") and (w.isl is None or w.osl is None):
            raise MoecalcError(f"--mode {mode} needs --isl and --osl", field=field("isl" if w.isl is None else "osl"))
        if mode == "prefill" and w.isl is None:
            raise MoecalcError("--mode prefill needs --isl (prompts of ISL tokens)", field=field("isl"))
        if mode == "decode" and w.isl is not None and w.osl is None:
            raise MoecalcError("--mode decode with --isl needs --osl (the decode context is ISL + OSL/2)",
                               field=field("osl"))
    if w.mtp_tokens < 0:
        raise MoecalcError(f"must be at least 0, got {w.mtp_tokens}", field=field("mtp"))
    if w.mtp_acceptance is not None and not 0 <= w.mtp_acceptance <= 1:
        raise MoecalcError(f"must be in [0, 1], got {w.mtp_acceptance:g}", field=field("mtp_acceptance"))
    if w.mtp_tokens and not w.is_requests:
        raise MoecalcError("needs a request workload (--isl/--osl or --mode decode)", field=field("mtp"))


def parse_weight_dtypes(text: str | None, field: str = "--weights-dtype") -> tuple[str | None, dict[str, str]]:
    """``fp8`` -> ("fp8", {}); ``routed_experts=nvfp4,attention=bf16`` -> (None, {...}): the
    per-component form, any component of ``params.by_component``."""
    from moecalc.engine.params import COMPONENTS

    from moecalc.engine.dtypes import GGUF_MIXES

    if text in GGUF_MIXES:
        return None, dict(GGUF_MIXES[text])
    if text is None or "=" not in text:
        check_dtypes(text, None, field)
        return text, {}
    own = {}
    for part in text.split(","):
        name, sep, dtype = (x.strip() for x in part.partition("="))
        if not sep or name not in COMPONENTS:
            raise MoecalcError(f"expected COMPONENT=DTYPE with COMPONENT one of {', '.join(COMPONENTS)}, got "
                               f"{part.strip()!r}", field=field)
        check_dtypes(dtype, None, field)
        own[name] = dtype
    return None, own


def check_dtypes(weights: str | None, kv: str | None, field: str = "--weights-dtype") -> None:
    if weights is not None and weights not in WEIGHT_DTYPES:
        raise MoecalcError(f"unknown dtype {weights!r}; known: {', '.join(WEIGHT_DTYPES)}", field=field)
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
    from moecalc.report import card_active

    card = card_active(spec, active, embedding, lm_head)
    if card is not None:
        err = card["derived"] / card["stated"] - 1
        if abs(err) > stated.tolerance:
            out.append(f"derived active {card['derived'] / 1e9:.2f}B differs from the stated "
                       f"{card['stated'] / 1e9:.2f}B by {err:+.1%} (closest of three conventions)")
    return out


def weights_precision(spec: ModelSpec, m, text: str | None, kv_dtype: str, assumptions: Assumptions):
    """(Precision, the dtype label, (the dtype of the GEMMs' bulk, that of the other matrix
    multiplies)) for a weight dtype text: one dtype for the spec's quantized components, or
    dtypes per component over the spec's. The others' dtype is that of the non-routed component
    with the most matrix parameters (attention in an MoE, the FFN in a dense model; the
    embedding is a gather, not a GEMM)."""
    from dataclasses import replace as _replace

    base, own = parse_weight_dtypes(text)
    unknown = getattr(spec.dtypes, "unknown_quantization", None)
    if unknown and text is None:
        raise MoecalcError(f"{spec.name} is quantized by {unknown}, which moecalc cannot read: give "
                           f"the weight storage (e.g. --weights-dtype int4, or routed_experts=nvfp4,attention=bf16)",
                           field="--weights-dtype")
    exact = getattr(spec.dtypes, "component_bytes", None)
    if exact and text is None:
        return _exact_precision(spec, m, exact, kv_dtype, assumptions)
    base = base or spec.dtypes.weights
    precision = assumptions.precision(base, kv_dtype)
    unquantized = base if not WEIGHT_DTYPES[base].quantized else assumptions.unquantized_dtype
    dtypes = {c: own.get(c, base if c in m.quantized else unquantized) for c in m.params.matrix}
    if own:
        precision = _replace(precision, component_bits=tuple((c, WEIGHT_DTYPES[d].bits) for c, d in own.items()))
    bulk = max(m.params.matrix, key=lambda c: m.params.matrix[c])
    others = [c for c in m.params.matrix if c not in ("routed_experts", "embedding")]
    dense = max(others, key=lambda c: m.params.matrix[c]) if others else bulk
    return precision, text if own else base, (dtypes.get(bulk, base) if own else base, dtypes.get(dense, base))


def _exact_precision(spec, m, exact: dict, kv_dtype: str, assumptions: Assumptions):
    """The precision whose bytes per component are ``exact`` (a GGUF file's tensors): vectors in
    f32 as GGUF stores them, each component's matrices at (8 bytes - 32 vector) / matrix bits."""
    from dataclasses import replace as _replace

    precision = _replace(assumptions.precision(spec.dtypes.weights, kv_dtype), unquantized_bits=32.0)
    bits = []
    for c, n in m.params.matrix.items():
        if n:
            bits.append((c, (8.0 * exact.get(c, 0) - 32.0 * m.params.vector[c]) / n))
    precision = _replace(precision, component_bits=tuple(bits))
    bulk = spec.dtypes.weights
    return precision, bulk, (bulk, bulk)


def model_scenario(spec: ModelSpec, workload: Workload, assumptions: Assumptions, routing: Routing | None = None):
    """(the scenario of one model and one workload, weights dtype label, KV dtype, the GEMMs'
    dtype)."""
    check_dtypes(None, workload.kv_dtype)
    check_requests(workload)
    kv_dtype = workload.kv_dtype or spec.dtypes.kv_cache
    m = spec.numbers()
    if workload.mtp_tokens and not m.params.mtp:
        raise MoecalcError(f"{spec.name} has no MTP modules to draft with (mtp_layers is 0)", field="--mtp")
    if routing is not None:
        from moecalc.routers import apply_groups

        m = apply_groups(m, routing, spec.name)
    precision, weights_dtype, bulk = weights_precision(spec, m, workload.weights_dtype, kv_dtype, assumptions)
    scenario = Scenario(m, rec.Workload(context=workload.held_context, batch=workload.batch), precision,
                        assumptions.runtime())
    return scenario, weights_dtype, kv_dtype, bulk


_SHARED: list = []


def shared_cache():
    """The process's routing cache for callers that pass none: bounded (1,024 laws and 1,024
    router-layout entries), created on first use."""
    if not _SHARED:
        from moecalc.engine.routing import RoutingCache

        _SHARED.append(RoutingCache(max_entries=1024))
    return _SHARED[0]


def estimate(spec: ModelSpec, workload: Workload = Workload(), assumptions: Assumptions = Assumptions(),
             label: str | None = None, deployment: Deployment | None = None, catalog: Catalog | None = None,
             routing: Routing | None = None, cache: RoutingCache | None = None) -> dict:
    """Every number for one model and one workload, as the documented JSON structure.

    With a ``deployment`` (a GPU type and optionally a layout) the result adds the
    ``deployment``, ``hardware``, ``comm``, ``perf`` and ``cost`` sections and per-GPU memory.
    MoE models get a ``routing`` section; with a ``routing`` (``moecalc.routers.Routing``; None:
    uniform, the model's group limit) the deployment's step time, weights read and all-to-all
    follow that router. ``cache`` (``engine.routing.RoutingCache``) keeps solved routing terms
    across calls (a sweep passes its own); without one, a bounded cache the library keeps for
    the process (``shared_cache()``), so a loop of estimates solves each router and layout once.
    """
    from moecalc import report

    scenario, weights_dtype, kv_dtype, bulk = model_scenario(spec, workload, assumptions, routing)
    m = scenario.model
    ev = scenario.evaluate()
    p = m.params
    beyond = spec.context_warning(*workload.longest_sequence)
    out = report.model_sections(spec, label, m, ev, weights_dtype, kv_dtype, assumptions.as_dict(deployment is not None),
                                [*stated_warnings(spec, p.total, p.active, p.embedding, p.lm_head),
                                 *([beyond] if beyond else [])])
    out["workload"].update(isl=workload.isl, osl=workload.osl, mode=workload.mode or (
        "continuous" if workload.is_requests else None), mtp_tokens=workload.mtp_tokens)
    if m.num_experts or (routing is not None and not routing.is_uniform):
        from moecalc.routers import Routing, inclusion

        if not m.num_experts:
            raise MoecalcError(f"{spec.name} has no routed experts to route", field="--routing")
        r = routing or Routing()
        out["routing"] = report.routing_section(r, inclusion(r, m.num_experts, m.top_k, spec.name), m.top_k,
                                                workload.batch)
        out["warnings"] += r.warnings()
    if deployment is not None:
        from moecalc.hardware import load_catalog

        _serve(out, scenario, ev, assumptions, deployment, catalog or load_catalog(), routing, spec.name,
               shared_cache() if cache is None else cache, workload, bulk)
    return out


def _serve(out: dict, scenario: Scenario, ev, a: Assumptions, d: Deployment, catalog: Catalog, routing, name: str,
           cache, workload: Workload, bulk: str) -> None:
    """Choose the layout (the smallest that fits, unless given), serve on it, report it."""
    from dataclasses import replace

    from moecalc import report
    from moecalc.deployment import check, expert_sharding, layout_record, resolve, serving_flags
    from moecalc.hardware import hardware_record
    from moecalc.routers import engine_router

    m = scenario.model
    key, acc = catalog.gpu(d.gpu)
    if d.scale_out is not None:
        catalog.link(d.scale_out, kind="scale-out")
    has_scale_out = (d.scale_out or acc.scale_out) is not None
    hardware, described = hardware_record(acc, catalog, bulk, a, d.scale_out, d.price_per_hour)

    def fits(candidates: list[Deployment]):
        rows = [layout_record(c) for c in candidates]
        layout = replace(rows[0], **{f: np.array([getattr(r, f) for r in rows]) for f in ("tp", "dp", "pp", "ep")})
        return replace(scenario, layout=layout, hardware=hardware).memory(ev).fits

    d, chosen = resolve(m, d, acc, has_scale_out, fits)
    notes = check(m, d, acc, has_scale_out)
    router = engine_router(routing, m, name)
    placed = replace(scenario, layout=layout_record(d), hardware=hardware, router=router)
    served = placed.serve(ev, cache)
    if np.isnan(hardware.price_per_hour):
        notes.append(f"no published price for the {acc.name} in the profile: give --price-per-hour for $/Mtok")
    deployment = {
        "gpu": key, "gpus": d.gpus, "gpus_per_node": d.gpus_per_node, "tp": d.tp, "ep": d.ep, "dp": d.dp, "pp": d.pp,
        "expert_tp": int(served.expert_tp) if m.num_experts else None, "redundant_experts": d.redundant_experts,
        "max_nodes_per_token": d.max_nodes_per_token, "nodes": math.ceil(d.gpus / d.gpus_per_node),
        "layout_chosen": chosen, "notes": notes,
        "expert_sharding": expert_sharding(d) if m.num_experts else None,
        "serving_flags": serving_flags(d, bool(m.num_experts))}
    limit = (f"at most {d.max_nodes_per_token} nodes per token" if d.max_nodes_per_token else
             f"group-limited to {m.groups_per_token} of {m.expert_groups} expert groups per token"
             if m.expert_groups else None)
    report.deployment_sections(out, served, deployment, described,
                               {"dispatch_dtype": a.dispatch_dtype, "combine_dtype": a.combine_dtype,
                                "a2a_kernel": a.a2a_kernel, "routing_limit": limit}, a.load_fluctuation)
    if workload.is_requests:
        requested = placed.serve_requests(workload.requests(a.mtp_acceptance), ev, cache)
        report.request_sections(out, requested)
    report.band_sections(out, a.profile, workload.mode if workload.is_requests else None, workload.batch)
    if not bool(served.memory.fits):
        report.without_speed(out)
        from moecalc.render.units import gb

        out["warnings"].append(f"does not fit: {gb(float(served.memory.total))} on the fullest GPU, "
                               f"{gb(float(served.memory.usable))} usable (gpu_memory_utilization "
                               f"{a.gpu_memory_utilization:g}): no speed or cost is given")
