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
    override the spec's (None: the spec's)."""
    context: int = 4096
    batch: int = 1
    weights_dtype: str | None = None
    kv_dtype: str | None = None


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


def model_scenario(spec: ModelSpec, workload: Workload, assumptions: Assumptions, routing: Routing | None = None):
    """(the scenario of one model and one workload, weights dtype, KV dtype)."""
    check_dtypes(workload.weights_dtype, workload.kv_dtype)
    weights_dtype = workload.weights_dtype or spec.dtypes.weights
    kv_dtype = workload.kv_dtype or spec.dtypes.kv_cache
    m = spec.numbers()
    if routing is not None:
        from moecalc.routers import apply_groups

        m = apply_groups(m, routing, spec.name)
    scenario = Scenario(m, rec.Workload(context=workload.context, batch=workload.batch),
                        assumptions.precision(weights_dtype, kv_dtype), assumptions.runtime())
    return scenario, weights_dtype, kv_dtype


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

    scenario, weights_dtype, kv_dtype = model_scenario(spec, workload, assumptions, routing)
    m = scenario.model
    ev = scenario.evaluate()
    p = m.params
    out = report.model_sections(spec, label, m, ev, weights_dtype, kv_dtype, assumptions.as_dict(deployment is not None),
                                stated_warnings(spec, p.total, p.active, p.embedding, p.lm_head))
    if m.num_experts or (routing is not None and not routing.is_uniform):
        from moecalc.routers import Routing, inclusion

        if not m.num_experts:
            raise MoecalcError(f"{spec.name} has no routed experts to route", field="--routing")
        r = routing or Routing()
        out["routing"] = report.routing_section(r, inclusion(r, m.num_experts, m.top_k, spec.name), m.top_k,
                                                workload.batch)
    if deployment is not None:
        from moecalc.hardware import load_catalog

        _serve(out, scenario, ev, assumptions, deployment, catalog or load_catalog(), routing, spec.name,
               shared_cache() if cache is None else cache)
    return out


def _serve(out: dict, scenario: Scenario, ev, a: Assumptions, d: Deployment, catalog: Catalog, routing, name: str,
           cache) -> None:
    """Choose the layout (the smallest that fits, unless given), serve on it, report it."""
    from dataclasses import replace

    from moecalc import report
    from moecalc.deployment import check, layout_record, resolve
    from moecalc.hardware import hardware_record
    from moecalc.routers import engine_router

    m = scenario.model
    key, acc = catalog.gpu(d.gpu)
    if d.scale_out is not None:
        catalog.link(d.scale_out, kind="scale-out")
    has_scale_out = (d.scale_out or acc.scale_out) is not None
    weights_dtype = out["weights"]["dtype"]
    hardware, described = hardware_record(acc, catalog, weights_dtype, a, d.scale_out, d.price_per_hour)

    def fits(candidates: list[Deployment]):
        rows = [layout_record(c) for c in candidates]
        layout = replace(rows[0], **{f: np.array([getattr(r, f) for r in rows]) for f in ("tp", "dp", "pp", "ep")})
        return replace(scenario, layout=layout, hardware=hardware).memory(ev).fits

    d, chosen = resolve(m, d, acc, has_scale_out, fits)
    notes = check(m, d, acc, has_scale_out)
    served = replace(scenario, layout=layout_record(d), hardware=hardware,
                     router=engine_router(routing, m, name)).serve(ev, cache)
    if np.isnan(hardware.price_per_hour):
        notes.append(f"no published price for the {acc.name} in the profile: give --price-per-hour for $/Mtok")
    deployment = {
        "gpu": key, "gpus": d.gpus, "gpus_per_node": d.gpus_per_node, "tp": d.tp, "ep": d.ep, "dp": d.dp, "pp": d.pp,
        "expert_tp": int(served.expert_tp) if m.num_experts else None, "redundant_experts": d.redundant_experts,
        "max_nodes_per_token": d.max_nodes_per_token, "nodes": math.ceil(d.gpus / d.gpus_per_node),
        "layout_chosen": chosen, "notes": notes}
    limit = (f"at most {d.max_nodes_per_token} nodes per token" if d.max_nodes_per_token else
             f"group-limited to {m.groups_per_token} of {m.expert_groups} expert groups per token"
             if m.expert_groups else None)
    report.deployment_sections(out, served, deployment, described,
                               {"dispatch_dtype": a.dispatch_dtype, "combine_dtype": a.combine_dtype,
                                "routing_limit": limit}, a.load_fluctuation)
