"""A routing trace (``moecalc route``). N tokens routed by the chosen router (seeded Monte Carlo,
``engine.routing.law.sample_sets``) next to the closed forms, on the EP layout of a deployment,
and what the skew does to TPOT and $/Mtok against uniform routing (and with EPLB's redundant
experts, when asked). Every cost is an ``estimate``; the trace only counts tokens.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.deployment import EP_ALL, Deployment
from moecalc.engine import records as rec
from moecalc.engine.routing import RouterLaw, RoutingCache, SkewedRouter, effective_experts, distinct_experts, rank_factors
from moecalc.engine.routing.capacity import cap_loads, capacity_tokens, overflow_tokens
from moecalc.engine.routing.extremes import expected_max_load
from moecalc.engine.routing.groups import sample_grouped_sets
from moecalc.engine.routing.law import sample_sets
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, estimate
from moecalc.routers import Routing, apply_groups, inclusion

SAMPLE_CHUNK = 1 << 15          # tokens drawn at a time (bounds memory: chunk x E booleans)
MAX_TOKENS = 1 << 24


RARE = 30.0                     # expected tokens below which a scaled count is Poisson, not Gaussian
EXACT_TOKENS = 1 << 16
"""Tokens drawn one by one; past them, the rest of a trace is scaled from a second draw of as
many (``expert_counts``), so a trace costs at most 2 x 65,536 draws whatever --tokens says."""


def expert_counts(r: RouterLaw, tokens: int, rng: np.random.Generator,
                  groups: tuple[int, int] = (0, 0), on_progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Assignments per expert of ``tokens`` routed tokens, and which experts they touched.
    ``groups``: a uniform router limited to M of G groups (a skewed router is drawn without its
    group limit, as its closed forms are). ``on_progress(done, total)`` is called after each chunk.

    Up to M = ``EXACT_TOKENS`` tokens every token is drawn (in chunks). Past M, the other
    N' = N - M tokens' counts are N' pi + sqrt(N' / M) (C_M - M pi), with C_M a second,
    independent draw of M tokens: the mean N' pi and the covariance N' Sigma (Sigma: one token's,
    which C_M carries) are exact, the higher moments those of a sum of M tokens (the CLT's
    error, O(1 / sqrt(M)), on the shape only). An expert expected fewer than ``RARE`` of those
    tokens gets a Poisson(N' pi) count instead (the rare-event law: an expert nobody picks stays
    untouched, and no count is clipped at 0). Bounded by construction: at most 2M draws, so a
    trace of 2^24 tokens takes what one of 131,072 takes (2.5 s for Kimi K2's 384 experts here,
    against 5 minutes drawing every token)."""
    exact = min(tokens, EXACT_TOKENS)
    scaled = tokens - exact
    total = exact + (EXACT_TOKENS if scaled else 0)

    def draw(n_tokens: int, done: int) -> np.ndarray:
        counts = np.zeros(len(r.pi))
        for start in range(0, n_tokens, SAMPLE_CHUNK):
            n = min(SAMPLE_CHUNK, n_tokens - start)
            counts += (sample_grouped_sets(len(r.pi), r.top_k, *groups, n, rng) if groups[0] > 1
                       else sample_sets(r, n, rng)).sum(axis=0)
            if on_progress is not None:
                on_progress(done + start + n, total)
        return counts
    counts = draw(exact, 0)
    if scaled:
        pi = np.asarray(r.pi, dtype=np.float64)
        mean = scaled * pi
        deviation = draw(EXACT_TOKENS, exact) - EXACT_TOKENS * pi
        gaussian = mean + np.sqrt(scaled / EXACT_TOKENS) * deviation
        counts = counts + np.where(mean < RARE, rng.poisson(np.minimum(mean, RARE)), np.maximum(gaussian, 0.0))
    return counts, counts > 0


def capped_counts(counts: np.ndarray, capacity_factor, overflow: str, tokens: int, k: int):
    """Per-expert tokens actually served at capacity floor(C N k / E): (counts, share over it)."""
    if capacity_factor is None:
        return counts, 0.0
    served, over = cap_loads(counts, capacity_tokens(capacity_factor, tokens, k, len(counts)), overflow)
    return served, over / (tokens * k)


def route_deployment(d: Deployment) -> Deployment:
    """A trace's deployment: ``--ep`` alone (no --gpus, --tp, --dp) spreads the experts over
    exactly that many GPUs; without ``--ep``, EP over every GPU of a stage (``--ep all``: the
    load per rank is what route is for; estimate's default, EP 1, has a single rank)."""
    if d.ep and d.gpus is None and d.tp is None and d.dp is None:
        return replace(d, gpus=d.ep)
    return replace(d, ep=EP_ALL) if d.ep is None else d


def trace(spec, routing: Routing, tokens: int = 4096, deployment: Deployment | None = None,
          workload: Workload = Workload(batch=64), assumptions: Assumptions = Assumptions(),
          catalog=None, label: str | None = None, on_progress=None) -> dict:
    """Route ``tokens`` tokens; compare the counts with the closed forms; cost it on ``deployment``.
    ``on_progress(done, tokens)``: called as the Monte Carlo draws its chunks (most of a long trace)."""
    m = apply_groups(spec.numbers(), routing, spec.name)
    if not m.num_experts:
        raise MoecalcError(f"{spec.name} has no routed experts to route", field="MODEL")
    if tokens > MAX_TOKENS:
        raise MoecalcError(f"at most {MAX_TOKENS:,} tokens, got {tokens:,}", field="--tokens")
    E, k = m.num_experts, m.top_k
    deployment = route_deployment(deployment or Deployment(gpu="h200"))
    cache = RoutingCache()
    routed = estimate(spec, workload, assumptions, label, deployment, catalog, routing=routing, cache=cache)
    d = routed["deployment"]
    ep, R = d["ep"], d["redundant_experts"]
    plain = replace(deployment, redundant_experts=0, tp=d["tp"], dp=d["dp"], pp=d["pp"], ep=ep, gpus=d["gpus"])
    uniform_routing = replace(routing, kind="uniform", value=None, path=None, counts=None)
    costs = {"uniform": estimate(spec, workload, assumptions, label, plain, catalog, routing=uniform_routing,
                                 cache=cache),
             "routed": routed}
    if R:
        costs["routed_no_redundant"] = estimate(spec, workload, assumptions, label, plain, catalog, routing=routing,
                                                cache=cache)

    rt = cache.law(inclusion(routing, E, k, spec.name))
    rng = np.random.default_rng(routing.seed)
    groups = (m.expert_groups, m.groups_per_token) if m.expert_groups > 1 else (0, 0)
    uniform_router = rt.k_free == k and np.allclose(rt.pi, rt.pi[0])
    counts, touched_mc = expert_counts(rt, tokens, rng, groups if uniform_router else (0, 0), on_progress)
    served, over_mc = capped_counts(counts, routing.capacity_factor, routing.overflow, tokens, k)
    nodes = d["ep_nodes"]
    f = rank_factors(rt, ep, nodes, R, routing.capacity_factor, routing.overflow)
    pl = f.placement
    rank_tokens = pl.rank_load(served[pl.expert] / pl.copies[pl.expert])
    slots_max = int(pl.slots.max())
    # the hottest rank at N tokens as the cost takes it (the batch's fluctuation unless assumed
    # away), through the router's law (a uniform router's too, for a like-for-like column)
    even = cache.law(np.full(E, k / E))
    trace_tokens = rec.Workload(context=tokens, batch=tokens)

    def hottest(pi, redundant):
        router = SkewedRouter(E, k, m.expert_groups, m.groups_per_token, pi=pi,
                              capacity_factor=routing.capacity_factor, overflow=routing.overflow)
        t = router.terms(rec.Layout(ep=ep, redundant_experts=redundant), nodes, trace_tokens,
                         assumptions.load_fluctuation, cache)
        return float(np.asarray(t.imbalance)), float(np.asarray(t.touched_fraction))

    fluct, fluct_uniform = hottest(rt.pi, R), hottest(even.pi, 0)
    share = rt.pi / k
    mean_count = tokens * k / E

    def hottest_expert(pi):
        """E[max_i X_i] / mean, X_i ~ Binomial(N, pi_i) taken as independent."""
        return float(expected_max_load(np.stack([1 - pi, pi], axis=1), tokens)) / mean_count

    summary = {
        "effective_experts": {"closed": effective_experts(rt.pi), "monte_carlo": effective_experts(counts),
                              "uniform": float(E)},
        "distinct_experts": {"closed": float(distinct_experts(rt.pi, tokens)),
                             "monte_carlo": float((counts > 0).sum()),
                             "uniform": float(distinct_experts(even.pi, tokens))},
        "hottest_expert_load": {"closed": hottest_expert(rt.pi), "large_batch_limit": float(share.max() * E),
                                "monte_carlo": float(counts.max() / mean_count), "uniform": hottest_expert(even.pi)},
        "straggler": {"closed": fluct[0], "large_batch_limit": float(f.imbalance),
                      "monte_carlo": float(rank_tokens.max() / (tokens * k / ep)), "uniform": fluct_uniform[0]},
        "hottest_rank_touched": {
            "closed": fluct[1] * slots_max,
            "monte_carlo": float(pl.rank_load(touched_mc[pl.expert].astype(float)).max()),
            "uniform": fluct_uniform[1] * slots_max},
    }
    if routing.capacity_factor is not None:
        summary["over_capacity"] = {
            "closed": overflow_tokens(rt.pi, tokens, routing.capacity_factor) / (tokens * k),
            "monte_carlo": over_mc,
            "uniform": overflow_tokens(even.pi, tokens, routing.capacity_factor) / (tokens * k),
            "large_batch_limit": f.dropped_share + f.rerouted_share}
    order = np.argsort(-counts, kind="stable")
    return {
        "model": {"name": spec.name, "spec": label, "num_experts": E, "top_k": k},
        "routing": routing.as_dict(), "tokens": tokens, "ep": ep, "redundant_experts": R, "nodes": nodes,
        "experts": {"counts": counts.tolist(), "expected_share": share.tolist(), "hottest": order[:8].tolist()},
        "ranks": {"tokens": rank_tokens.tolist(), "expected_share": f.rank_share.tolist(),
                  "slots": pl.slots.tolist()},
        "summary": summary,
        "cost": {name: _cost(r) for name, r in costs.items()},
        "deployment": d, "workload": routed["workload"], "warnings": routed["warnings"],
    }


def _cost(r: dict) -> dict:
    p, c = r["perf"], r["cost"]
    return {"tpot_seconds": p["tpot_seconds"], "ttft_seconds": p["ttft_seconds"],
            "tokens_per_s_per_gpu": p["tokens_per_s_per_gpu"], "bound": p["bound"],
            "usd_per_million_output_tokens": c["usd_per_million_output_tokens"],
            "straggler": p["expert_imbalance"], "experts_touched_fraction": p["decode"]["experts_touched_fraction"],
            "decode_compute_seconds": p["decode"]["compute_seconds"],
            "decode_memory_seconds": p["decode"]["memory_seconds"],
            "decode_comm_seconds": p["decode"]["comm_seconds"]}
