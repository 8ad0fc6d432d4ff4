"""Routers: who picks which experts, and what that does to a deployment.

- ``law``: the conditional-Poisson law of a token's k experts for given per-expert loads
  (solve, closed forms, sampler);
- ``placement``: expert slots on EP ranks (contiguous, or EPLB-style with redundant slots);
- ``capacity``: capacity factor, dropped and rerouted tokens;
- ``extremes``: a finite batch's hottest rank and the experts it touches;
- ``groups``: the same for a uniform router limited to M of G expert groups;
- ``terms``: the two routers ``serve`` takes (``UniformRouter``, ``SkewedRouter``), one
  interface, and the explicit ``RoutingCache``.
"""

from moecalc.engine.routing.law import FORCED, RouterLaw, distinct_experts, effective_experts, solve
from moecalc.engine.routing.terms import (RankFactors, Router, RoutingCache, RoutingTerms, SkewedRouter,
                                          UniformRouter, rank_factors)

__all__ = ["FORCED", "RouterLaw", "distinct_experts", "effective_experts", "solve", "RankFactors", "Router",
           "RoutingCache", "RoutingTerms", "SkewedRouter", "UniformRouter", "rank_factors"]
