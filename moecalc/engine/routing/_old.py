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

A finite batch (``rank_count_pmf``, ``expected_max_load``, ``expected_max_touched``): the step
waits for its hottest rank, E[max_r X_r] for the B tokens' assignments X_r to rank r, exact per
rank (a token's law on r has pgf e_k(w (1 - x + x z)) / e_k(w); B tokens convolve it) and
combined as if ranks were independent, sum_m 1 - prod_r F_r(m): an approximation, checked
against the Monte Carlo. ``sample_sets`` draws exact conditional-Poisson subsets (sequential
method) for those checks and for ``moecalc route``. Arrays in, arrays out; no I/O.
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

    @property
    def slots(self) -> np.ndarray:
        """Slots on each rank (shape ep)."""
        return np.bincount(self.rank, minlength=self.ep)


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


def place(pi, ep: int, redundant: int) -> Placement:
    """Balanced (EPLB) when redundant slots are given; else contiguous."""
    if redundant:
        return balanced_placement(pi, ep, redundant)
    return contiguous_placement(len(pi), ep)


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
    pl = place(r.pi, ep, redundant)
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
        "imbalance_uncapped": ep * pl.rank_load(r.pi[pl.expert] / pl.copies[pl.expert]).max() / k,
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
    fullest = pl.slots.max()
    return (per_rank.max(axis=1) / fullest)[back.ravel()].reshape(B.shape)


def layout_factors(rt: "RoutingInputs", ep, nodes, batch, redundant: int, fluctuation: bool = False,
                   prefill_tokens=None, groups: tuple[int, int] = (0, 0)) -> dict:
    """``rank_factors`` and the per-batch terms over broadcast arrays of EP, nodes and batch
    (each distinct (EP, nodes, R), and each distinct batch of it, is solved once and kept in
    ``rt.cache``).

    fluctuation=False: the expected loads (the large-batch limit): ``imbalance`` = EP max_r L_r,
    ``touched_fraction`` = ``touched_on_fullest``. fluctuation=True: the expected hottest rank
    of a batch of B tokens, ``imbalance`` = EP E[max_r X_r] / (B k) (``expected_max_load``), and
    ``touched_fraction`` = E[max_r touched_r] / fullest slots (``expected_max_touched``); with a
    capacity factor the fluctuation scales the capped large-batch load (EP max_r L_r with loads
    cut at capacity, over the same without the cut), and the hottest rank carries at most its
    slots' capacity, EP C sum_r x / E.
    ``imbalance_prefill`` is the same at ``prefill_tokens`` tokens (default: the batch).
    ``groups`` = (G, M), a group-limited model: a uniform router without replicas takes the
    exact group-aware per-rank laws (``group_rank_count_pmf``, ``group_expected_max_touched``);
    other routers keep the ungrouped ones (an approximation: the limit only concentrates them).
    """
    r = rt.router
    k = r.top_k
    prefill = batch if prefill_tokens is None else prefill_tokens
    layout_shape = np.broadcast_shapes(np.shape(ep), np.shape(nodes))
    e = np.broadcast_to(np.asarray(ep, dtype=np.int64), layout_shape).ravel()
    n = np.broadcast_to(np.asarray(nodes, dtype=np.int64), layout_shape).ravel()
    pairs, which = np.unique(np.stack([e, n], axis=1), axis=0, return_inverse=True)
    which = which.reshape(layout_shape)
    batches, batch_at = np.unique(np.asarray(batch, dtype=np.float64), return_inverse=True)
    prompts, prompt_at = np.unique(np.asarray(prefill, dtype=np.float64), return_inverse=True)
    batch_at, prompt_at = batch_at.reshape(np.shape(batch)), prompt_at.reshape(np.shape(prefill))
    fixed = ("remote_ranks", "remote_nodes", "scaleup_transfers", "scaleup_transfers_peak", "remote_nodes_peak",
             "dropped_share", "rerouted_share")
    table = {key: np.zeros(len(pairs)) for key in fixed}
    per_batch = {key: np.zeros((len(pairs), len(batches))) for key in ("imbalance", "touched_fraction")}
    per_prompt = np.zeros((len(pairs), len(prompts)))
    for j, (ep_j, n_j) in enumerate(pairs):
        key = (int(ep_j), int(max(1, min(n_j, ep_j))), int(redundant))
        if key + tuple(groups) not in rt.cache:
            rt.cache[key + tuple(groups)] = rank_factors(r, *key, rt.capacity_factor, rt.overflow)
        f = rt.cache[key + tuple(groups)]
        pl = f["placement"]
        for name in fixed:
            table[name][j] = f[name]
        if not fluctuation or pl.ep == 1:           # one rank: its load is the whole batch's, no max
            per_batch["imbalance"][j] = per_prompt[j] = f["imbalance"]
            per_batch["touched_fraction"][j] = touched_on_fullest(r, pl, batches)
            continue
        grouped = groups[0] > 1 and not redundant and r.k_free == r.top_k and np.allclose(r.pi, r.pi[0])
        if "pmf" not in f:
            f["pmf"] = group_rank_count_pmf(k, *groups, pl) if grouped else rank_count_pmf(r, pl)
            held = np.zeros((pl.ep, len(r.pi)))
            np.add.at(held, (pl.rank, pl.expert), 1.0)
            f["cap"] = np.inf if rt.capacity_factor is None else (
                pl.ep * rt.capacity_factor / len(r.pi) * (held / pl.copies).sum(axis=1).max())
            f["memo"] = {}
            # one token: the exact law (it touches what it is assigned), where one is known
            single = single_token_expected_max(r, pl, groups if grouped else (0, 0))
            if single is not None:
                f["memo"][("load", 1.0)] = pl.ep * single / k
                f["memo"][("touched", 1.0)] = single / pl.slots.max()
        memo = f["memo"]

        def solved(values, what):
            todo = [v for v in values.tolist() if (what, v) not in memo]
            if todo:
                arr = np.array(todo)
                touched = (group_expected_max_touched(k, *groups, pl, arr) if grouped else
                           expected_max_touched(r, pl, arr)) if what == "touched" else None
                got = (pl.ep * expected_max_load(f["pmf"], arr) / (arr * k) if what == "load" else
                       touched / pl.slots.max())
                memo.update({(what, v): float(g) for v, g in zip(todo, got)})
            return np.array([memo[(what, v)] for v in values.tolist()])

        # under a capacity the batch's fluctuation scales the capped expected load (a cut
        # expert cannot exceed its capacity, however the batch falls), at most the rank's capacity
        scale = f["imbalance"] / f["imbalance_uncapped"] if rt.capacity_factor is not None else 1.0
        per_batch["imbalance"][j] = np.minimum(solved(batches, "load") * scale, f["cap"])
        per_prompt[j] = np.minimum(solved(prompts, "load") * scale, f["cap"])
        per_batch["touched_fraction"][j] = solved(batches, "touched")
    out = {key: v[which] for key, v in table.items()}
    out.update({key: v[which, batch_at] for key, v in per_batch.items()})
    out["imbalance_prefill"] = per_prompt[which, prompt_at]
    return out


_UNIFORM: dict = {}


def uniform_inputs(num_experts: int, top_k: int) -> "RoutingInputs":
    """The uniform router as RoutingInputs (for finite-batch terms), one per (E, k) per process."""
    key = (int(num_experts), int(top_k))
    if key not in _UNIFORM:
        _UNIFORM[key] = RoutingInputs(router(np.full(key[0], key[1] / key[0])))
    return _UNIFORM[key]


@dataclass(frozen=True)
class RoutingInputs:
    """What ``engine.serve`` needs of a router: its law, the capacity policy, and a cache of what
    each EP layout (and each batch of it) has already solved."""
    router: Router
    capacity_factor: float | None = None
    overflow: str = "drop"
    cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


# ---- a finite batch: the hottest rank of B tokens, not of their expectation ---------------------
def rank_count_pmf(r: Router, pl: Placement) -> np.ndarray:
    """Law of how many of one token's k assignments land on each rank: (EP, k + 1).

    With x_i = share of expert i's copies on the rank (a token's assignment to i goes to one
    copy, each equally likely), the probability generating function under conditional
    Poisson sampling is
        E[z^Y] = prod_{forced i} (1 - x_i + x_i z)  e_k'(w (1 - x + x z)) / e_k'(w),
    the elementary symmetric polynomial taken with polynomial weights (one DP over experts).
    """
    E, ep, k = len(r.pi), pl.ep, r.top_k
    held = np.zeros((ep, E))
    np.add.at(held, (pl.rank, pl.expert), 1.0)
    x = held / pl.copies
    out = np.zeros((ep, k + 1))
    out[:, 0] = 1.0
    for i in np.nonzero(r.forced)[0]:
        out[:, 1:] = out[:, 1:] * (1 - x[:, i:i + 1]) + out[:, :-1] * x[:, i:i + 1]
        out[:, 0] *= 1 - x[:, i]
    K = r.k_free
    if K:
        e = np.zeros((ep, K + 1, K + 1))          # e[rank, j, d]: coefficient of z^d in e_j
        e[:, 0, 0] = 1.0
        for idx, i in enumerate(r.free):
            wi, xi = r.w[idx], x[:, i][:, None, None]
            shifted = e[:, :-1, :].copy()
            e[:, 1:, :] = e[:, 1:, :] + wi * (1 - xi) * shifted
            e[:, 1:, 1:] = e[:, 1:, 1:] + wi * xi * shifted[:, :, :-1]
        free_pmf = e[:, K, :] / _esp(r.w[None, :], K)[0, -1]
        out = np.stack([np.convolve(out[q], free_pmf[q])[: k + 1] for q in range(ep)])
    return out


NORMAL_FROM = 2048      # B k past which many distinct ranks take the normal law (within 0.2% of exact there)


def _normal_cdf(z):
    """Phi(z) from erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return 0.5 * (1.0 + np.sign(z) * (1.0 - poly * np.exp(-x * x)))


def _expected_max(cdf: np.ndarray, start=0.0, count=None) -> np.ndarray:
    """E[max_r X_r] of integer X_r >= start from per-rank CDFs on start, start + 1, ... along the
    last axis (ranks independent, on axis 0; ``count``: ranks sharing each row):
    start + sum_m 1 - prod_r F_r(m)."""
    cdf = np.clip(cdf, 0.0, 1.0)
    if count is not None:
        cdf = cdf ** np.asarray(count, dtype=np.float64).reshape((-1,) + (1,) * (cdf.ndim - 1))
    return start + (1.0 - np.prod(cdf, axis=0)).sum(axis=-1)


def expected_max_load(pmf: np.ndarray, tokens) -> np.ndarray:
    """E[max over ranks of the assignments B tokens put on them], for each B.

    Tokens are independent, so a rank's count X_r is the B-fold convolution of its one-token
    law, computed exactly by FFT. Only a window matters: the max is almost surely above
    top = max_r (mu_r - 14 sd_r), ranks that cannot reach it are left out, and each kept rank's
    law is taken modulo a length of 28 sd + k around its mean (a circular convolution that
    long wraps under 1e-40 of the mass), so a batch costs O(sqrt(B)), not O(B k). Past
    B k = NORMAL_FROM, when more than 16 distinct ranks can reach the top (a skewed router on
    wide EP), their normal laws (same mean and variance, continuity-corrected) stand in: within
    0.2% of the exact value there, at a fraction of the cost. The max treats ranks as
    independent; against a Monte Carlo that understates it by up to 6.6% at B = 1, 3.6% at
    B = 8, 1.4% at B = 64 and 0.6% at B = 512 (tests: a token's k assignments make the ranks
    negatively correlated, which lifts the true maximum a little).
    """
    pmf, count = np.unique(np.round(pmf, 14), axis=0, return_counts=True)    # alike ranks once
    k1 = pmf.shape[1]
    support = np.arange(k1)
    mean = pmf @ support
    var = np.maximum(pmf @ support ** 2 - mean ** 2, 0.0)
    B = np.asarray(tokens, dtype=np.float64)
    values, back = np.unique(B.ravel(), return_inverse=True)
    if len(pmf) == 1:                     # every rank alike (a uniform router): all batches at once
        return _expected_max_alike(pmf[0], int(count[0]), values)[back.ravel()].reshape(B.shape)
    out = np.empty(len(values))
    spectra: dict = {}
    for j, b in enumerate(values):
        b = int(b)
        mu, sd = b * mean, np.sqrt(b * var)
        top = max(0.0, np.floor((mu - 14 * sd).max()))
        keep = np.nonzero(mu + 14 * sd + k1 >= top)[0]
        full = b * (k1 - 1) + 1
        if full > NORMAL_FROM + 1 and len(keep) > 16:
            x = np.arange(top, np.ceil((mu[keep] + 14 * sd[keep]).max()) + 1)
            z = (x[None, :] + 0.5 - mu[keep, None]) / np.maximum(sd[keep, None], 1e-9)
            out[j] = _expected_max(_normal_cdf(z), top, count[keep])
            continue
        need = int(np.ceil((28 * sd[keep] + 2 * k1).max()))
        size = 1 << int(np.ceil(np.log2(max(min(full, need), 2))))
        if size not in spectra:
            spectra[size] = np.fft.rfft(pmf, size, axis=1)
        law = np.clip(np.fft.irfft(spectra[size][keep] ** b, size, axis=1), 0, None)   # X_r mod size
        start = np.where(size >= full, 0, np.maximum(0, np.floor(mu[keep] - 14 * sd[keep]))).astype(np.int64)
        hi = int(np.ceil((mu[keep] + 14 * sd[keep]).max())) + k1
        x = np.arange(int(top), min(hi, full) + 1)
        offset = x[None, :] - start[:, None]                       # position in each rank's window
        window = np.take_along_axis(law, (start[:, None] + np.arange(size)[None, :]) % size, axis=1)
        cdf = np.cumsum(window, axis=1)
        F = np.where(offset < 0, 0.0, np.where(offset >= size, 1.0,
                                                 np.take_along_axis(cdf, np.clip(offset, 0, size - 1), axis=1)))
        out[j] = _expected_max(F[:, :-1], top, count[keep])
    return out[back.ravel()].reshape(B.shape)


def _expected_max_alike(pmf: np.ndarray, ranks: int, batches: np.ndarray, chunk: int = 128) -> np.ndarray:
    """``expected_max_load`` for ``ranks`` ranks sharing one law, vectorized over the batches
    (the same windowed FFT, batches of one FFT length together)."""
    k1 = len(pmf)
    support = np.arange(k1)
    mean = pmf @ support
    var = max(pmf @ support ** 2 - mean ** 2, 0.0)
    b = batches.astype(np.float64)
    mu, sd = b * mean, np.sqrt(b * var)
    full = (b * (k1 - 1) + 1).astype(np.int64)
    size = 2 ** np.ceil(np.log2(np.maximum(np.minimum(full, np.ceil(28 * sd + 2 * k1)), 2))).astype(np.int64)
    top = np.maximum(0.0, np.floor(mu - 14 * sd)).astype(np.int64)
    start = np.where(size >= full, 0, top)
    span = (np.ceil(mu + 14 * sd).astype(np.int64) + k1 - top + 1)
    out = np.empty(len(b))
    for n in np.unique(size):
        spectrum = np.fft.rfft(pmf, int(n))
        for group in np.array_split(np.nonzero(size == n)[0], max(1, -(-np.count_nonzero(size == n) // chunk))):
            law = np.clip(np.fft.irfft(spectrum[None, :] ** b[group, None], int(n), axis=1), 0, None)
            window = np.take_along_axis(law, (start[group, None] + np.arange(n)[None, :]) % n, axis=1)
            cdf = np.cumsum(window, axis=1)
            offset = top[group, None] + np.arange(span[group].max())[None, :] - start[group, None]
            F = np.where(offset >= n, 1.0, np.take_along_axis(cdf, np.clip(offset, 0, n - 1), axis=1))
            out[group] = top[group] + (1.0 - np.clip(F, 0.0, 1.0) ** ranks).sum(axis=1)
    return out


def expected_max_touched(r: Router, pl: Placement, tokens) -> np.ndarray:
    """E[max over ranks of the slots B tokens touch on them], for each B.

    Slot s is touched with probability q_s = 1 - (1 - pi_s / c_s)^B; a rank's count is the
    Poisson-binomial law of its slots' q (taken as independent), ranks independent, as in
    ``expected_max_load``; ranks holding alike slots once. Within 1.1% of a Monte Carlo (tests).
    """
    share = pl.shares(r.pi)
    B = np.asarray(tokens, dtype=np.float64)
    values, back = np.unique(B.ravel(), return_inverse=True)
    width = int(pl.slots.max()) + 1
    per_rank = np.full((pl.ep, width - 1), -1.0)                 # slot shares per rank, padded
    for rank in range(pl.ep):
        mine = np.sort(share[pl.rank == rank])[::-1]
        per_rank[rank, :len(mine)] = mine
    kinds, count = np.unique(np.round(per_rank, 14), axis=0, return_counts=True)
    cdf = np.empty((len(kinds), len(values), width))
    for i, kind in enumerate(kinds):
        law = np.zeros((len(values), width))
        law[:, 0] = 1.0
        for p_slot in kind[kind >= 0]:
            p = (1 - (1 - p_slot) ** values)[:, None]
            law[:, 1:] = law[:, 1:] * (1 - p) + law[:, :-1] * p
            law[:, 0] *= 1 - p[:, 0]
        cdf[i] = np.cumsum(law, axis=1)
    emax = _expected_max(cdf[:, :, :-1], count=count)
    return emax[back.ravel()].reshape(B.shape)


# ---- group-limited routing (DeepSeek's n_group / topk_group) under a uniform router ----------------
def _group_share(pl: Placement, groups: int) -> np.ndarray:
    """Experts of each group on each rank: (EP, G), contiguous groups of E/G expert ids."""
    E = len(pl.copies)
    out = np.zeros((pl.ep, groups))
    np.add.at(out, (pl.rank, pl.expert // (E // groups)), 1.0)
    return out


def group_rank_count_pmf(top_k: int, groups: int, per_token: int, pl: Placement) -> np.ndarray:
    """One token's assignments on each rank, uniform router limited to M of G groups: (EP, k+1).

    The token takes M groups uniformly, then k experts uniformly among their pool of M g; a rank
    holding a_gamma experts of group gamma gets Y ~ Hypergeometric(M g, A, k) with A = the sum of
    a_gamma over the chosen groups, whose law is a DP over the groups (subsets of size M). Exact.
    """
    from math import comb

    E = len(pl.copies)
    g = E // groups
    pool, k = per_token * g, int(top_k)
    share = _group_share(pl, groups).astype(np.int64)
    top = int(share.sum(axis=1).max())
    hyper = np.array([[comb(a, y) * comb(pool - a, k - y) / comb(pool, k) if a <= pool else 0.0
                       for y in range(k + 1)] for a in range(top + 1)])
    out = np.zeros((pl.ep, k + 1))
    for r in range(pl.ep):
        ways = np.zeros((per_token + 1, top + 1))          # ways[c, a]: subsets of c groups holding a
        ways[0, 0] = 1.0
        for a_g in share[r]:
            ways[1:, a_g:] = ways[1:, a_g:] + ways[:-1, : top + 1 - a_g]
        law_a = ways[per_token] / comb(groups, per_token)
        out[r] = law_a @ hyper
    return out


def _touched_chain(pick_law: np.ndarray, a: int, batches: np.ndarray) -> np.ndarray:
    """Law of how many of a part's ``a`` experts B tokens touch, for each B: (batches, a + 1).

    A token puts y of its picks on the part (``pick_law``), uniformly among its a experts, so
    with t already touched n ~ Hypergeometric(a, a - t, y) are new: a Markov chain over tokens,
    T[t, t + n] = sum_y P(y) C(a - t, n) C(t, y - n) / C(a, y), run from t = 0 (exact)."""
    from math import comb

    T = np.zeros((a + 1, a + 1))
    for t in range(a + 1):
        for y, p in enumerate(pick_law):
            if p == 0 or y > a:
                continue
            for n in range(0, min(y, a - t) + 1):
                if y - n <= t:
                    T[t, t + n] += p * comb(a - t, n) * comb(t, y - n) / comb(a, y)
    out = np.zeros((len(batches), a + 1))
    law = np.zeros(a + 1)
    law[0] = 1.0
    done = 0
    for i in np.argsort(batches):
        b = int(batches[i])
        steps = b - done
        if steps > 64:                          # far apart: square the chain instead of walking it
            law = law @ np.linalg.matrix_power(T, steps)
        else:
            for _ in range(steps):
                law = law @ T
        done = b
        out[i] = law
    return out


def group_expected_max_touched(top_k: int, groups: int, per_token: int, pl: Placement, tokens) -> np.ndarray:
    """E[max over ranks of the experts B tokens touch on them], uniform group-limited router.

    A rank's experts split into parts, one per group it holds experts of; a token puts
    y ~ (1 - M/G) delta_0 + (M/G) Hypergeometric(M g, a, k) of its picks on a part of a experts,
    and the part's touched count follows ``_touched_chain`` (exact for a rank inside one group,
    the usual case; parts of one rank taken as independent); ranks as in ``expected_max_load``.
    """
    from math import comb

    E = len(pl.copies)
    g = E // groups
    pool, k = per_token * g, int(top_k)
    share = _group_share(pl, groups).astype(np.int64)
    kinds, count = np.unique(np.sort(share, axis=1), axis=0, return_counts=True)
    B = np.asarray(tokens, dtype=np.float64)
    values, back = np.unique(B.ravel(), return_inverse=True)
    width = int(share.sum(axis=1).max()) + 1
    chains: dict = {}
    for a in np.unique(kinds[kinds > 0]):
        a = int(a)
        pick = np.array([comb(a, y) * comb(pool - a, k - y) / comb(pool, k) for y in range(k + 1)])
        pick = per_token / groups * pick
        pick[0] += 1 - per_token / groups
        chains[a] = _touched_chain(pick, a, values)
    cdf = np.zeros((len(kinds), len(values), width))
    for i, kind in enumerate(kinds):
        law = np.zeros((len(values), 1))
        law[:, 0] = 1.0
        for a in kind[kind > 0]:
            law = np.stack([np.convolve(law[j], chains[int(a)][j]) for j in range(len(values))])
        padded = np.zeros((len(values), width))
        padded[:, : law.shape[1]] = law[:, :width]
        cdf[i] = np.cumsum(padded, axis=1)
    emax = _expected_max(cdf[:, :, :-1], count=count)
    return emax[back.ravel()].reshape(B.shape)


def single_token_expected_max(r: Router, pl: Placement, groups: tuple[int, int] = (0, 0)) -> float | None:
    """E[max over ranks of one token's assignments on them], exactly, or None where no exact
    form is known here (replicated experts; a group limit under a skewed router, or with ranks
    that straddle groups). One token touches what it is assigned, so this is also the experts
    a batch of one reads on the slowest GPU.

    No group limit (conditional Poisson): P(max <= m) = [z^k] prod_r sum_{j <= m} e_j(w_r) z^j / e_k(w),
    w_r the odds of rank r's experts (forced experts fixed in). Uniform router limited to M of G
    groups: P(max <= m) = [u^M z^k] prod_units U(u, z) / (C(G, M) C(M g, k)), a unit being a group
    (U = 1 + u prod_{ranks in it} sum_{j <= m} C(a_r, j) z^j) when ranks lie within groups, or a
    rank holding s groups (U = sum_j C(s, j) u^j sum_{i <= m} C(j g, i) z^i).
    """
    from math import comb

    if np.any(pl.copies > 1):
        return None
    E, k = len(r.pi), r.top_k
    G, M = groups
    if G > 1:
        if r.k_free != k or not np.allclose(r.pi, r.pi[0]):
            return None
        g = E // G
        share = _group_share(pl, G).astype(np.int64)
        inside = (share > 0).sum(axis=1) == 1                      # each rank within one group
        whole = np.all((share == 0) | (share == g), axis=1)        # each rank holding whole groups
        if not (inside.all() or whole.all()):
            return None
        total = comb(G, M) * comb(M * g, k)

        def trunc(n, m):
            return np.array([comb(n, j) if j <= m else 0 for j in range(k + 1)], dtype=np.float64)

        def cdf(m):
            poly = np.zeros((M + 1, k + 1))                        # poly[c, d]: coefficient of u^c z^d
            poly[0, 0] = 1.0
            units = ([np.nonzero(share[:, gamma])[0] for gamma in range(G)] if inside.all() else
                     [int(s) for s in (share // g).sum(axis=1)])
            for unit in units:
                if inside.all():
                    q = np.array([1.0])
                    for rank in unit:
                        q = np.convolve(q, trunc(int(share[rank].sum()), m))[: k + 1]
                    factor = [np.eye(1, k + 1)[0], np.pad(q, (0, k + 1 - len(q)))]
                else:
                    factor = [comb(unit, j) * trunc(j * g, m) for j in range(unit + 1)]
                new = np.zeros_like(poly)
                for j, f in enumerate(factor):
                    if j > M:
                        break
                    for c in range(M + 1 - j):
                        new[c + j] += np.convolve(poly[c], f)[: k + 1]
                poly = new
            return poly[M, k] / total
    else:
        w_all = np.zeros(E)
        w_all[r.free] = r.w
        forced = r.forced

        def cdf(m):
            poly = np.array([1.0])
            for rank in range(pl.ep):
                mine = pl.expert[pl.rank == rank]
                n_forced = int(forced[mine].sum())
                e = _esp(w_all[mine][None, ~forced[mine]], k)[0]            # e_0..e_k of the free odds
                law = np.zeros(k + 1)
                for j in range(n_forced, min(m, k) + 1):
                    law[j] = e[j - n_forced]
                poly = np.convolve(poly, law)[: k + 1]
            return poly[k] / _esp(r.w[None, :], r.k_free)[0, -1]
    return float(sum(1.0 - cdf(m) for m in range(k)))


def sample_grouped_sets(num_experts: int, top_k: int, groups: int, per_token: int, tokens: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Tokens of a uniform router limited to M of G contiguous groups: M groups uniformly, then
    k distinct experts uniformly among theirs: (tokens x E) booleans."""
    E, g = int(num_experts), int(num_experts) // groups
    chosen = np.argsort(rng.random((tokens, groups)), axis=1)[:, :per_token]
    pool = (chosen[:, :, None] * g + np.arange(g)).reshape(tokens, -1)
    picks = np.take_along_axis(pool, np.argsort(rng.random((tokens, per_token * g)), axis=1)[:, :top_k], axis=1)
    out = np.zeros((tokens, E), dtype=bool)
    np.put_along_axis(out, picks, True, axis=1)
    return out
