"""Expert capacity (GShard / Switch): at most floor(C B k / E) tokens per expert per step, and
what happens to the rest (dropped, or rerouted to the next-preferred experts with room).
"""

from __future__ import annotations

import numpy as np

from moecalc.engine.routing.law import water_fill


def capacity_tokens(capacity_factor: float, tokens: int, top_k: int, num_experts: int) -> int:
    """Tokens one expert may take in a step of B tokens: floor(C B k / E) (GShard / Switch)."""
    return int(np.floor(capacity_factor * tokens * top_k / num_experts + 1e-9))


def cap_loads(loads, cap, overflow: str) -> tuple[np.ndarray, float]:
    """Per-expert loads served under a capacity ``cap`` each, and the load over it.

    drop:    l_i = min(x_i, cap)
    reroute: l = water_fill(x, sum x, cap): the overflow goes to the next-preferred experts with
             room, in proportion to their preference (needs sum x <= E cap)
    """
    x = np.asarray(loads, dtype=np.float64)
    served = water_fill(x, x.sum(), cap) if overflow == "reroute" else np.minimum(x, cap)
    return served, float(np.clip(x - served, 0, None).sum())


def capped_loads(pi, capacity_factor, overflow: str) -> tuple[np.ndarray, float, float]:
    """Per-expert load per token with a capacity of C k / E per token (the large-batch limit):
    ``cap_loads`` of pi. Returns (loads, dropped share, rerouted share) of the k assignments;
    C = None: no capacity limit.
    """
    pi = np.asarray(pi, dtype=np.float64)
    if capacity_factor is None:
        return pi, 0.0, 0.0
    k = pi.sum()
    loads, over = cap_loads(pi, capacity_factor * k / len(pi), overflow)
    return (loads, 0.0, over / k) if overflow == "reroute" else (loads, over / k, 0.0)


def overflow_tokens(pi, tokens: int, capacity_factor: float) -> float:
    """Exact expected assignments over capacity in a batch of B tokens (drop policy):
    sum_i E[(X_i - cap)^+] with X_i ~ Binomial(B, pi_i), cap = floor(C B k / E).

    E[(X - c)^+] = E[X] - E[min(X, c)] = B pi - sum_{j=0}^{c-1} P(X > j); the binomial pmf
    in logs, log C(B, j) by cumulative sums of log((B - j + 1) / j).
    """
    pi = np.asarray(pi, dtype=np.float64)
    B = int(tokens)
    cap = capacity_tokens(capacity_factor, B, round(pi.sum()), len(pi))
    if cap >= B:
        return 0.0
    j = np.arange(cap)
    logc = np.concatenate([[0.0], np.cumsum(np.log((B - np.arange(1, cap) + 1) / np.arange(1, cap)))])[:cap]
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(pi)[:, None]
        lq = np.log1p(-pi)[:, None]
        pmf = np.exp(logc[None, :] + j[None, :] * lp + (B - j[None, :]) * lq)
    pmf = np.where(pi[:, None] >= 1, (j[None, :] == B).astype(float), np.nan_to_num(pmf))
    pmf = np.where(pi[:, None] <= 0, (j[None, :] == 0).astype(float), pmf)
    tail = 1 - np.cumsum(pmf, axis=1)                     # P(X > j), j < cap
    return float((B * pi - np.clip(tail, 0, 1).sum(axis=1)).clip(min=0).sum())
