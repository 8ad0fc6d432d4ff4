"""Skewed routers: expert load, the experts a batch touches, the straggler rank, overflow at a
capacity factor and all-to-all destinations, when the router does not spread tokens evenly.

The routing model. Each token picks k distinct experts; expert i is in a token's set with
probability pi_i (its inclusion probability: sum_i pi_i = k, 0 <= pi_i <= 1), tokens
independently. Of all laws of a k-subset with those marginals we take the one of maximum
entropy, conditional Poisson sampling (Hajek 1964; Chen, Dempster & Liu, Biometrika 81, 1994):

    P(S) = prod_{i in S} w_i / e_k(w),   |S| = k,   e_k = k-th elementary symmetric polynomial

with odds w solved so that the marginals are pi. Equal pi = k/E gives a uniform k-subset:
exactly the uniform router of ``engine.alltoall``. Closed forms (load share p_i = pi_i / k):

    distinct experts touched by B tokens   D(B) = sum_i 1 - (1 - pi_i)^B
    effective experts                      exp(-sum_i p_i ln p_i)       (E uniform, k collapsed)
    P(a token avoids a weighting x)        E[prod_{i in S} x_i] = e_k(w x) / e_k(w)
                                           (x_i = 1 - share of expert i's copies on a rank:
                                           P(the token misses that rank))
    load share of EP rank r                L_r = sum_{slots s on r} p_{i(s)} / c_{i(s)}
                                           (c_i copies of expert i split its tokens evenly)
    straggler (B -> inf)                   EP max_r L_r                  (1: perfectly even)
    tokens over capacity (exact mean)      sum_i E[(X_i - cap)^+],  X_i ~ Binomial(B, pi_i),
                                           cap = floor(C B k / E)        (GShard / Switch)

``sample_sets`` draws exact conditional-Poisson subsets (sequential method), for the Monte
Carlo of what has no closed form: the expected *maximum* load of a finite batch. Arrays in,
arrays out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORCED = 1.0 - 1e-12       # inclusion probabilities this close to 1 are certain (a collapsed router)


def water_fill(weights, total: float, cap=1.0) -> np.ndarray:
    """x = min(cap, lam w) with sum x = total: shares proportional to w, none above ``cap``.

    Sort w descending; saturate the t largest while lam w_t > cap, lam = (total - t cap) /
    sum_{j >= t} w_j. Used for inclusion probabilities (cap 1: no expert twice per token) and
    for rerouted loads (cap = capacity). Needs total <= cap x (number of positive weights).
    """
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(-w, kind="stable")
    ws = w[order]
    tail = np.concatenate([np.cumsum(ws[::-1])[::-1], [0.0]])
    out = np.empty_like(ws)
    t = 0
    while True:
        lam = (total - t * cap) / tail[t] if tail[t] > 0 else 0.0
        if t < len(ws) and lam * ws[t] > cap:
            t += 1
            continue
        break
    out[:t] = cap
    out[t:] = lam * ws[t:]
    result = np.empty_like(out)
    result[order] = out
    return result


def inclusion_from_weights(weights, top_k: int) -> np.ndarray:
    """Inclusion probabilities proportional to router preference ``weights``, capped at 1."""
    return water_fill(weights, float(top_k), 1.0)


def _esp(w: np.ndarray, k: int) -> np.ndarray:
    """Elementary symmetric polynomials e_0..e_k of each row of w (n_sets x n): shape (n_sets, k+1).

    e_j(w_1..w_n) by the recurrence e_j <- e_j + w_i e_{j-1}, one expert at a time.
    """
    e = np.zeros((w.shape[0], k + 1))
    e[:, 0] = 1.0
    for i in range(w.shape[1]):
        e[:, 1:] = e[:, 1:] + w[:, i:i + 1] * e[:, :-1]
    return e


@dataclass(frozen=True)
class Router:
    """The conditional-Poisson law of one token's k experts, for inclusion probabilities ``pi``.

    Experts with pi ~ 1 are always chosen (``forced``), pi = 0 never; the rest are drawn by
    odds ``w`` (solved so that their marginals match), ``k_free`` of them.
    """
    pi: np.ndarray
    forced: np.ndarray
    free: np.ndarray          # indices of experts drawn at random
    w: np.ndarray             # odds of the free experts (scaled to mean 1)
    k_free: int

    @property
    def top_k(self) -> int:
        return int(self.forced.sum()) + self.k_free

    def avoid(self, x) -> np.ndarray:
        """E[prod_{i in S} x_i] for each row of x (n_sets x E), x in [0, 1]:
        prod_{forced} x_i  x  e_k'(w x_free) / e_k'(w)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        sure = np.prod(np.where(self.forced[None, :], x, 1.0), axis=1)
        if self.k_free == 0:
            return sure
        num = _esp(self.w[None, :] * x[:, self.free], self.k_free)[:, -1]
        den = _esp(self.w[None, :], self.k_free)[0, -1]
        return sure * num / den


def _free_inclusion(w: np.ndarray, k: int) -> np.ndarray:
    """pi_i(w) = w_i e_{k-1}(w without i) / e_k(w), computed for every i at once."""
    n = len(w)
    without = np.broadcast_to(w, (n, n)).copy()
    np.fill_diagonal(without, 0.0)
    e_minus = _esp(without, k - 1)[:, -1]
    return w * e_minus / _esp(w[None, :], k)[0, -1]


def router(pi, tol: float = 1e-11, max_iter: int = 2000) -> Router:
    """Solve the conditional-Poisson odds whose inclusion probabilities are ``pi``.

    Fixed point on the odds, w <- w [pi / (1 - pi)] / [pi(w) / (1 - pi(w))], from the odds of
    independent draws w = pi / (1 - pi) (Chen, Dempster & Liu 1994, section 4), rescaled to mean
    1 each step (the law depends on w only up to scale). About 10 steps to 1e-11.
    """
    pi = np.asarray(pi, dtype=np.float64)
    k = int(round(pi.sum()))
    forced = pi >= FORCED
    free = np.nonzero(~forced & (pi > 0))[0]
    k_free = k - int(forced.sum())
    target = pi[free]
    if k_free <= 0 or len(free) == k_free:           # nothing random left: every set is the same
        return Router(pi, forced | (pi > 0), np.zeros(0, dtype=np.int64), np.zeros(0), 0)
    w = target / (1 - target)
    w = w / w.mean()
    for _ in range(max_iter):
        got = _free_inclusion(w, k_free)
        if np.max(np.abs(got - target) / target) < tol:
            break
        got = np.clip(got, 1e-300, 1 - 1e-15)
        w = w * (target / (1 - target)) / (got / (1 - got))
        w = w / w.mean()
    return Router(pi, forced, free, w, k_free)


def distinct_experts(pi, tokens) -> np.ndarray:
    """Expected distinct experts B tokens touch: D(B) = sum_i 1 - (1 - pi_i)^B (broadcast over B)."""
    pi = np.asarray(pi, dtype=np.float64)
    B = np.asarray(tokens, dtype=np.float64)[..., None]
    return (1 - (1 - pi) ** B).sum(axis=-1)


def effective_experts(pi) -> float:
    """exp of the entropy of the load shares p = pi / k: E for uniform routing, k when collapsed."""
    p = np.asarray(pi, dtype=np.float64)
    p = p / p.sum()
    nz = p[p > 0]
    return float(np.exp(-(nz * np.log(nz)).sum()))


@dataclass(frozen=True)
class Placement:
    """Expert slots on EP ranks: slot s holds expert ``expert[s]`` on rank ``rank[s]``;
    expert i has ``copies[i]`` slots, each taking 1/copies of its tokens."""
    expert: np.ndarray
    rank: np.ndarray
    copies: np.ndarray
    ep: int

    def shares(self, pi) -> np.ndarray:
        """Per slot: the probability a token is sent to it, pi_i / c_i."""
        return np.asarray(pi)[self.expert] / self.copies[self.expert]

    def rank_load(self, load_per_slot) -> np.ndarray:
        """Sum of a per-slot quantity on each rank (shape ep)."""
        return np.bincount(self.rank, weights=load_per_slot, minlength=self.ep)


def contiguous_placement(num_experts: int, ep: int) -> Placement:
    """Experts in id order over EP ranks, the first E mod EP ranks holding one more (vLLM's
    default, no load balancer)."""
    E = int(num_experts)
    bounds = np.array([len(a) for a in np.array_split(np.arange(E), ep)])
    rank = np.repeat(np.arange(ep), bounds)
    return Placement(np.arange(E), rank, np.ones(E, dtype=np.int64), int(ep))


def balanced_placement(pi, ep: int, redundant: int) -> Placement:
    """DeepSeek's EPLB in spirit: give the R redundant slots to the hottest experts (each
    time to the expert with the largest load per copy), then pack the E + R slots, heaviest
    first, each onto the least-loaded rank that still has room for ceil((E+R)/EP) slots."""
    pi = np.asarray(pi, dtype=np.float64)
    E = len(pi)
    copies = np.ones(E, dtype=np.int64)
    for _ in range(int(redundant)):
        copies[np.argmax(pi / copies)] += 1
    expert = np.repeat(np.arange(E), copies)
    load = pi[expert] / copies[expert]
    room = -(-(E + int(redundant)) // ep)
    rank = np.empty(len(expert), dtype=np.int64)
    rank_load = np.zeros(ep)
    rank_slots = np.zeros(ep, dtype=np.int64)
    for s in np.argsort(-load, kind="stable"):
        open_ = rank_slots < room
        r = int(np.argmin(np.where(open_, rank_load, np.inf)))
        rank[s] = r
        rank_load[r] += load[s]
        rank_slots[r] += 1
    return Placement(expert, rank, copies, int(ep))


def place(pi, ep: int, redundant: int, balance: bool) -> Placement:
    """Balanced (EPLB) when redundant slots are given or ``balance``; else contiguous."""
    if redundant or balance:
        return balanced_placement(pi, ep, redundant)
    return contiguous_placement(len(pi), ep)


def capped_loads(pi, capacity_factor, overflow: str) -> tuple[np.ndarray, float, float]:
    """Per-expert load per token with a capacity of C k / E per token (the large-batch limit).

    drop:    l_i = min(pi_i, C k/E); dropped share = sum (pi_i - l_i) / k
    reroute: l = water_fill(pi, k, C k/E): overflow goes to the next-preferred experts with
             room, in proportion to their preference; rerouted share = sum (pi_i - l_i)^+ / k
    Returns (loads, dropped share, rerouted share); C = None: no capacity limit.
    """
    pi = np.asarray(pi, dtype=np.float64)
    if capacity_factor is None:
        return pi, 0.0, 0.0
    k = pi.sum()
    cap = capacity_factor * k / len(pi)
    if overflow == "reroute":
        loads = water_fill(pi, k, cap)
        return loads, 0.0, float(np.clip(pi - loads, 0, None).sum() / k)
    loads = np.minimum(pi, cap)
    return loads, float((pi - loads).sum() / k), 0.0


def overflow_tokens(pi, tokens: int, capacity_factor: float) -> float:
    """Exact expected assignments over capacity in a batch of B tokens (drop policy):
    sum_i E[(X_i - cap)^+] with X_i ~ Binomial(B, pi_i), cap = floor(C B k / E).

    E[(X - c)^+] = E[X] - E[min(X, c)] = B pi - sum_{j=0}^{c-1} P(X > j); the binomial pmf
    in logs, log C(B, j) by cumulative sums of log((B - j + 1) / j).
    """
    pi = np.asarray(pi, dtype=np.float64)
    B = int(tokens)
    k = round(pi.sum())
    cap = int(np.floor(capacity_factor * B * k / len(pi) + 1e-9))
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


def sample_sets(r: Router, tokens: int, rng: np.random.Generator) -> np.ndarray:
    """Draw each token's k experts from the conditional-Poisson law: (tokens x E) booleans.

    Sequential method: walking the free experts in order with m still to pick, take expert
    j with probability w_j e_{m-1}(w_{j+1..}) / e_m(w_{j..}) (suffix polynomials), which
    yields P(S) proportional to prod w exactly.
    """
    E = len(r.pi)
    out = np.zeros((tokens, E), dtype=bool)
    out[:, r.forced] = True
    if r.k_free == 0:
        return out
    w, K, n = r.w, r.k_free, len(r.w)
    suffix = np.zeros((n + 1, K + 1))
    suffix[n, 0] = 1.0
    for j in range(n - 1, -1, -1):
        suffix[j] = suffix[j + 1]
        suffix[j, 1:] += w[j] * suffix[j + 1, :-1]
    need = np.full(tokens, K)
    u = rng.random((tokens, n))
    for j in range(n):
        m = need
        live = m > 0
        p = np.where(live, w[j] * suffix[j + 1, np.maximum(m - 1, 0)] / np.where(live, suffix[j, m], 1.0), 0.0)
        take = u[:, j] < p
        out[:, r.free[j]] = take
        need = need - take
    return out


def rank_factors(r: Router, ep: int, nodes: int, redundant: int, capacity_factor=None,
                 overflow: str = "drop") -> dict:
    """What a layout of EP ranks over ``nodes`` nodes sees of this router (batch-free parts).

    With G = EP / n ranks per node, q_r = P(a token hits rank r), q_n = P(it hits node n),
    sources spread evenly over the ranks (DP attention):
      remote ranks       = (EP - 1)/EP sum_r q_r        mean traffic per token
      remote nodes       = (n - 1)/n sum_n q_n
      scale-up transfers = (EP - n)/EP sum_r q_r        (G - 1 of a node's G ranks are not the
                                                         source / landing GPU)
      busiest receiver   : (EP - n) max_r q_r over scale-up, (n - 1) max_n q_n over scale-out
    Uniform routing gives q_r equal, i.e. ``alltoall.destinations`` without a node limit.
    ``imbalance`` = EP max_r L_r is the hottest rank's routed work over an even share of all
    assignments (what step time scales with; dropped tokens lower it); ``straggler`` =
    max_r L_r / mean_r L_r compares the ranks with each other (the same without a capacity).
    """
    k = r.top_k
    pl = place(r.pi, ep, redundant, balance=False)
    loads, dropped, rerouted = capped_loads(r.pi, capacity_factor, overflow)
    rank_share = pl.rank_load(loads[pl.expert] / pl.copies[pl.expert]) / k
    E = len(r.pi)
    held = np.zeros((ep, E))
    np.add.at(held, (pl.rank, pl.expert), 1.0)
    node_of = np.arange(ep) * nodes // ep
    held_node = np.zeros((nodes, E))
    np.add.at(held_node, node_of, held)
    q_rank = 1 - r.avoid(1 - held / pl.copies)
    q_node = 1 - r.avoid(1 - held_node / pl.copies)
    return {
        "placement": pl, "rank_share": rank_share, "imbalance": ep * rank_share.max(),
        "straggler": rank_share.max() / rank_share.mean() if rank_share.sum() > 0 else 1.0,
        "q_rank": q_rank, "q_node": q_node,
        "remote_ranks": (ep - 1) / ep * q_rank.sum(), "remote_nodes": (nodes - 1) / nodes * q_node.sum(),
        "scaleup_transfers": (ep - nodes) / ep * q_rank.sum(),
        "scaleup_transfers_peak": (ep - nodes) * q_rank.max(), "remote_nodes_peak": (nodes - 1) * q_node.max(),
        "dropped_share": dropped, "rerouted_share": rerouted,
    }


def touched_on_fullest(r: Router, pl: Placement, tokens) -> np.ndarray:
    """Expected slots a batch of B tokens touches on the rank that touches most, over the
    slots of the fullest rank: max_r sum_{s on r} 1 - (1 - pi_s / c_s)^B / ceil((E+R)/EP).
    The routed-expert weights a decode step reads on the slowest GPU; uniform routing and no
    redundant slots give 1 - (1 - k/E)^B (``layout.experts_touched_fraction``)."""
    share = pl.shares(r.pi)
    B = np.asarray(tokens, dtype=np.float64)
    values, back = np.unique(B.ravel(), return_inverse=True)
    hit = 1 - (1 - share) ** values[:, None]                         # (distinct batches, slots)
    per_rank = hit @ (pl.rank[:, None] == np.arange(pl.ep)[None, :])  # (distinct batches, ranks)
    fullest = np.bincount(pl.rank, minlength=pl.ep).max()
    return (per_rank.max(axis=1) / fullest)[back.ravel()].reshape(B.shape)


def layout_factors(rt: "RoutingInputs", ep, nodes, batch, redundant: int) -> dict:
    """``rank_factors`` and ``touched_on_fullest`` over broadcast arrays of EP, nodes and batch
    (each distinct (EP, nodes, R) is solved once, and kept in ``rt.cache``)."""
    r = rt.router
    shape = np.broadcast_shapes(np.shape(ep), np.shape(nodes), np.shape(batch))
    e = np.broadcast_to(np.asarray(ep, dtype=np.int64), shape).ravel()
    n = np.broadcast_to(np.asarray(nodes, dtype=np.int64), shape).ravel()
    b = np.broadcast_to(np.asarray(batch, dtype=np.float64), shape).ravel()
    keys = ("imbalance", "remote_ranks", "remote_nodes", "scaleup_transfers", "scaleup_transfers_peak",
            "remote_nodes_peak", "dropped_share", "rerouted_share", "touched_fraction")
    out = {key: np.zeros(e.shape) for key in keys}
    pairs, which = np.unique(np.stack([e, n], axis=1), axis=0, return_inverse=True)
    which = which.ravel()
    for j, (ep_j, n_j) in enumerate(pairs):
        rows = which == j
        key = (int(ep_j), int(max(1, min(n_j, ep_j))), int(redundant))
        if key not in rt.cache:
            rt.cache[key] = rank_factors(r, *key, rt.capacity_factor, rt.overflow)
        f = rt.cache[key]
        for key in keys[:-1]:
            out[key][rows] = f[key]
        out["touched_fraction"][rows] = touched_on_fullest(r, f["placement"], b[rows])
    return {key: v.reshape(shape) for key, v in out.items()}


@dataclass(frozen=True)
class RoutingInputs:
    """What ``engine.serve`` needs of a non-uniform router: its law, and the capacity policy."""
    router: Router
    capacity_factor: float | None = None
    overflow: str = "drop"
    cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
