"""What a deployment sees of its router: the straggler rank, the experts a step reads, overflow
at a capacity factor and the all-to-all destinations, for every EP layout of a broadcast.

Two routers behind one interface (``terms``), so ``serve`` never asks which it has:
- ``UniformRouter``: the load-balanced router MoE papers aim for; its closed forms
  (``engine.layout``, ``engine.alltoall``: node and group limits exact) wherever they are exact,
  its conditional-Poisson law where the batch's fluctuation or redundant slots need it.
- ``SkewedRouter``: any per-expert load (``moecalc.routers``: zipf, Dirichlet, a measured
  profile), with a capacity policy; its law everywhere, its destinations scaled by what a node
  or group limit does to a uniform router's (an approximation: the limit only concentrates them).

Large-batch limit (no fluctuation): with load share L_r of EP rank r (replicas split their
expert's tokens evenly, DeepSeek's EPLB), imbalance = EP max_r L_r and the slowest rank reads
max_r sum_{s on r} 1 - (1 - pi_s/c_s)^B of its slots. With the batch's fluctuation: the expected
hottest rank of B tokens (``extremes``; exact group-aware laws for a uniform group-limited
router, ``groups``). Every distinct (EP, nodes, R, fluctuation) of a broadcast is solved once,
and each distinct batch of it once, in an explicit ``RoutingCache`` the caller owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Callable, NamedTuple

import numpy as np

from moecalc.engine import alltoall, layout as lay
from moecalc.engine.records import Array, Layout, Workload
from moecalc.engine.routing import extremes, groups as grouped
from moecalc.engine.routing.capacity import capped_loads
from moecalc.engine.routing.law import RouterLaw, solve
from moecalc.engine.routing.placement import Placement, place


@dataclass(frozen=True)
class RoutingTerms:
    """Per layout row: what the router does to step time, weights read and the all-to-all. The
    prefill's imbalance is solved when first asked (``prefill_imbalance``): a sweep without a
    TTFT limit never prices a prefill, and a prompt's thousands of tokens are the costliest
    loads to solve."""
    imbalance: Array                # hottest EP rank's routed work in a decode step, over an even share
    prefill_imbalance_of: Callable[[], Array]   # ... in the prefill of one prompt (picklable: a partial)
    touched_fraction: Array         # share of its expert slots the slowest GPU reads per decode step
    dropped_share: Array            # assignments over capacity, dropped (large-batch limit)
    rerouted_share: Array           # ... rerouted
    remote_ranks: Array             # mean all-to-all destinations per token: remote GPUs
    remote_nodes: Array             # ... remote nodes
    scaleup_transfers: Array        # ... scale-up hops
    scaleup_peak: Array             # the busiest GPU's scale-up receives per token
    remote_nodes_peak: Array        # ... its scale-out receives

    @cached_property
    def prefill_imbalance(self) -> Array:
        return self.prefill_imbalance_of()


def _given(value):
    """``value`` itself: a picklable ``prefill_imbalance_of`` for a value already known."""
    return value


def _where(mask, value_of, otherwise):
    return np.where(mask, value_of(), otherwise)


@dataclass(frozen=True)
class RankLaw:
    """The part of ``RankFactors`` that the node count does not change (one per EP and R)."""
    placement: Placement
    rank_share: np.ndarray
    imbalance: float
    imbalance_uncapped: float
    straggler: float
    q_rank: np.ndarray
    dropped_share: float
    rerouted_share: float


@dataclass(frozen=True)
class RankFactors(RankLaw):
    """The batch-free part of a router on one layout of EP ranks over nodes.

    With q_r = P(a token hits rank r), q_n = P(it hits node n), sources spread evenly over the
    ranks (DP attention), G = EP / n ranks per node:
      remote ranks       = (EP - 1)/EP sum_r q_r        mean traffic per token
      remote nodes       = (n - 1)/n sum_n q_n
      scale-up transfers = (EP - n)/EP sum_r q_r        (G - 1 of a node's G ranks are not the
                                                         source / landing GPU)
      busiest receiver   : (EP - n) max_r q_r over scale-up, (n - 1) max_n q_n over scale-out
    ``imbalance`` = EP max_r L_r is the hottest rank's routed work over an even share of all
    assignments (dropped tokens lower it); ``straggler`` = max_r L_r / mean_r L_r compares the
    ranks with each other (the same without a capacity).
    """
    q_node: np.ndarray
    remote_ranks: float
    remote_nodes: float
    scaleup_transfers: float
    scaleup_peak: float
    remote_nodes_peak: float


def rank_law(r: RouterLaw, ep: int, redundant: int, capacity_factor=None, overflow: str = "drop") -> RankLaw:
    """``RankLaw`` of law ``r`` on ``ep`` ranks with R redundant slots."""
    k = r.top_k
    pl = place(r.pi, ep, redundant)
    loads, dropped, rerouted = capped_loads(r.pi, capacity_factor, overflow)
    rank_share = pl.rank_load(loads[pl.expert] / pl.copies[pl.expert]) / k
    return RankLaw(placement=pl, rank_share=rank_share, imbalance=ep * rank_share.max(),
                   imbalance_uncapped=ep * pl.rank_load(r.pi[pl.expert] / pl.copies[pl.expert]).max() / k,
                   straggler=rank_share.max() / rank_share.mean() if rank_share.sum() > 0 else 1.0,
                   q_rank=1 - r.avoid(1 - pl.held() / pl.copies), dropped_share=dropped, rerouted_share=rerouted)


def rank_factors(r: RouterLaw, ep: int, nodes: int, redundant: int, capacity_factor=None,
                 overflow: str = "drop", ranks: RankLaw | None = None) -> RankFactors:
    """``RankFactors`` of law ``r`` on ``ep`` ranks over ``nodes`` nodes with R redundant slots
    (``ranks``: its ``rank_law``, when the caller has it)."""
    f = ranks if ranks is not None else rank_law(r, ep, redundant, capacity_factor, overflow)
    pl, q_rank = f.placement, f.q_rank
    q_node = 1 - r.avoid(1 - pl.held(nodes) / pl.copies)
    return RankFactors(
        **vars(f), q_node=q_node,
        remote_ranks=(ep - 1) / ep * q_rank.sum(), remote_nodes=(nodes - 1) / nodes * q_node.sum(),
        scaleup_transfers=(ep - nodes) / ep * q_rank.sum(),
        scaleup_peak=(ep - nodes) * q_rank.max(), remote_nodes_peak=(nodes - 1) * q_node.max())


@dataclass
class _Batches:
    """What one router has solved on one (EP, R): its ``RankLaw``, and the hottest rank's load
    and the slots it touches for each batch. They depend on the placement, never on how the
    ranks sit on nodes, so every node count of that EP shares them (a sweep's EP 64 on 1..64
    nodes solves them once)."""
    ranks: RankLaw | None = None
    pmf: np.ndarray | None = None       # one token's assignments per rank (fluctuation only)
    cap: float = np.inf                 # the hottest rank's most work under a capacity
    memo: dict = field(default_factory=dict)


@dataclass
class _Solved:
    """One router on one (EP, nodes, R): its factors, and its (EP, R)'s solved batches."""
    factors: RankFactors
    batches: _Batches


class RoutingCache:
    """Solved router laws (by inclusion probabilities) and per-layout terms (by router, EP,
    nodes, R): made by the caller and passed in, so that one sweep, or one ``estimate`` and the
    rows it reports, solve each once. Mutable by design; nothing else in the engine is.
    ``max_entries`` bounds each table (the oldest entry goes first); None: unbounded."""

    def __init__(self, max_entries: int | None = None) -> None:
        self.max_entries = max_entries
        self.laws: dict[bytes, RouterLaw] = {}
        self.layouts: dict[tuple, _Solved] = {}
        self.batches: dict[tuple, _Batches] = {}

    def _keep(self, table: dict, key, value):
        if self.max_entries is not None and len(table) >= self.max_entries:
            del table[next(iter(table))]
        table[key] = value
        return value

    def law(self, pi: np.ndarray) -> RouterLaw:
        key = np.asarray(pi, dtype=np.float64).tobytes()
        return self.laws[key] if key in self.laws else self._keep(self.laws, key, solve(pi))

    def layout(self, key: tuple, solve_layout) -> "_Solved":
        """The solved terms of one router on one layout, solved by ``solve_layout()`` once."""
        return self.layouts[key] if key in self.layouts else self._keep(self.layouts, key, solve_layout())

    def batch_terms(self, key: tuple) -> "_Batches":
        """The solved batches of one router on one (EP, R), shared by its node counts."""
        return self.batches[key] if key in self.batches else self._keep(self.batches, key, _Batches())

    def solved_count(self) -> int:
        """How much is solved (laws, layouts, batch values): what tells a sweep to store it."""
        return len(self.laws) + len(self.layouts) + sum(1 + len(b.memo) for b in self.batches.values())


@dataclass(frozen=True)
class _Router:
    """What both routers share: the model's expert count, top-k and group limit."""
    num_experts: int
    top_k: int
    expert_groups: int = 0              # G > 1: group-limited routing, at most M groups per token
    groups_per_token: int = 0

    capacity_factor = None
    overflow = "drop"

    @property
    def groups(self) -> tuple[int, int]:
        return (self.expert_groups, self.groups_per_token) if self.expert_groups > 1 else (0, 0)

    def closed_destinations(self, ep, nodes, max_nodes):
        """The uniform router's destinations with the node and group limits (``alltoall``)."""
        return alltoall.destinations(self.num_experts, self.top_k, ep, nodes, max_nodes, *self.groups)

    def _law_terms(self, law: RouterLaw, layout: Layout, nodes, workload: Workload, fluctuation,
                   cache: RoutingCache) -> dict:
        """Rank factors and per-batch extremes of ``law`` for every row of the broadcast."""
        k = law.top_k
        G, M = self.groups
        shape = np.broadcast_shapes(*(np.shape(x) for x in (layout.ep, nodes, layout.redundant_experts, fluctuation)))
        cols = [np.broadcast_to(np.asarray(x), shape).ravel().astype(np.int64)
                for x in (layout.ep, nodes, layout.redundant_experts, fluctuation)]
        keys, which = np.unique(np.stack(cols, axis=1).reshape(-1, 4), axis=0, return_inverse=True)
        which = which.reshape(shape)
        batch, prompt = workload.batch, workload.context
        batches, batch_at = np.unique(np.asarray(batch, dtype=np.float64), return_inverse=True)
        prompts, prompt_at = np.unique(np.asarray(prompt, dtype=np.float64), return_inverse=True)
        batch_at, prompt_at = batch_at.reshape(np.shape(batch)), prompt_at.reshape(np.shape(prompt))
        fixed = ("remote_ranks", "remote_nodes", "scaleup_transfers", "scaleup_peak", "remote_nodes_peak",
                 "dropped_share", "rerouted_share")
        table = {name: np.zeros(len(keys)) for name in fixed}
        per_batch = {name: np.zeros((len(keys), len(batches))) for name in ("imbalance", "touched_fraction")}
        prompt_rows = []                # per key: its prompts' imbalance, or how to solve it
        uniform_law = law.k_free == k and np.allclose(law.pi, law.pi[0])
        for j, (ep_j, n_j, redundant, fluct) in enumerate(keys):
            key = (law.pi.tobytes(), self.capacity_factor, self.overflow, int(ep_j), int(max(1, min(n_j, ep_j))),
                   int(redundant), G, M)
            def solve_layout(key=key):
                shared = cache.batch_terms(key[:4] + key[5:])
                if shared.ranks is None:
                    shared.ranks = rank_law(law, key[3], key[5], self.capacity_factor, self.overflow)
                return _Solved(rank_factors(law, *key[3:6], self.capacity_factor, self.overflow, shared.ranks), shared)

            s = cache.layout(key, solve_layout)
            f, pl, bt = s.factors, s.factors.placement, s.batches
            for name in fixed:
                table[name][j] = getattr(f, name)
            if not fluct or pl.ep == 1:            # one rank: its load is the whole batch's, no max
                per_batch["imbalance"][j] = f.imbalance
                prompt_rows.append(f.imbalance)
                per_batch["touched_fraction"][j] = extremes.touched_on_fullest(law, pl, batches)
                continue
            exact_groups = G > 1 and not redundant and uniform_law
            if bt.pmf is None:
                bt.pmf = grouped.group_rank_count_pmf(k, G, M, pl) if exact_groups else extremes.rank_count_pmf(law, pl)
                bt.cap = np.inf if self.capacity_factor is None else (
                    pl.ep * self.capacity_factor / len(law.pi) * (pl.held() / pl.copies).sum(axis=1).max())
                # one token: the exact law (it touches what it is assigned), where one is known
                single = (grouped.single_token_expected_max(k, G, M, pl) if exact_groups
                          else extremes.single_token_expected_max(law, pl))
                if single is not None:
                    bt.memo[("load", 1.0)] = pl.ep * single / k
                    bt.memo[("touched", 1.0)] = single / pl.slots.max()

            # under a capacity the batch's fluctuation scales the capped expected load (a cut
            # expert cannot exceed its capacity, however the batch falls), at most the rank's capacity
            scale = f.imbalance / f.imbalance_uncapped if self.capacity_factor is not None else 1.0
            solver = _Solver(bt, pl, law, G, M, exact_groups)
            per_batch["imbalance"][j] = np.minimum(_solved(solver, batches, "load") * scale, bt.cap)
            prompt_rows.append((solver, scale))
            per_batch["touched_fraction"][j] = _solved(solver, batches, "touched")
        out = {name: v[which] for name, v in table.items()}
        out.update({name: v[which, batch_at] for name, v in per_batch.items()})
        out["prefill_imbalance"] = partial(_prompt_imbalance, tuple(prompt_rows), prompts, which, prompt_at)
        return out


class _Solver(NamedTuple):
    """What solving one (router, EP, R)'s per-batch terms takes (picklable: a ``Served``'s
    unpriced prefill keeps one)."""
    batches: _Batches               # its memo, rank pmf and capacity
    placement: Placement
    law: RouterLaw
    groups: int                     # G, M of a group limit (0, 0: none)
    groups_per_token: int
    exact_groups: bool              # the group-limited uniform router's exact laws


def _solved(solver: _Solver, values: np.ndarray, what: str) -> np.ndarray:
    """The hottest rank's load over an even share ("load") or the share of its slots touched
    ("touched") for each count of tokens in ``values``, each solved once into the (EP, R)'s
    ``_Batches`` memo; a sweep asks the same batch axis each block, kept whole too."""
    bt, pl, law, G, M, exact_groups = solver
    k = law.top_k
    whole = (what, values.tobytes())
    if whole in bt.memo:
        return bt.memo[whole]
    todo = [v for v in values.tolist() if (what, v) not in bt.memo]
    if todo:
        arr = np.array(todo)
        if what == "load":
            got = pl.ep * extremes.expected_max_load(bt.pmf, arr) / (arr * k)
        else:
            touched = (grouped.group_expected_max_touched(k, G, M, pl, arr) if exact_groups else
                       extremes.expected_max_touched(law, pl, arr))
            got = touched / pl.slots.max()
        bt.memo.update({(what, v): float(g) for v, g in zip(todo, got)})
    bt.memo[whole] = np.array([bt.memo[(what, v)] for v in values.tolist()])
    return bt.memo[whole]


def _prompt_imbalance(rows: tuple, prompts: np.ndarray, which, prompt_at) -> np.ndarray:
    """``RoutingTerms.prefill_imbalance`` of ``_law_terms``: each key's imbalance for one prompt
    of each length, known (one rank, no fluctuation) or solved as the batches' are."""
    per_prompt = np.zeros((len(rows), len(prompts)))
    for j, row in enumerate(rows):
        if isinstance(row, tuple):
            solver, scale = row
            per_prompt[j] = np.minimum(_solved(solver, prompts, "load") * scale, solver.batches.cap)
        else:
            per_prompt[j] = row
    return per_prompt[which, prompt_at]


@dataclass(frozen=True)
class UniformRouter(_Router):
    """Every expert equally likely (a dense model: no experts, nothing to route)."""

    @property
    def pi(self) -> np.ndarray:
        return np.full(self.num_experts, self.top_k / max(self.num_experts, 1))

    def terms(self, layout: Layout, nodes, workload: Workload, fluctuation,
              cache: RoutingCache | None = None) -> RoutingTerms:
        cache = cache or RoutingCache()
        E, k, ep, R = self.num_experts, self.top_k, layout.ep, layout.redundant_experts
        ranks, remote_nodes, up = self.closed_destinations(ep, nodes, layout.max_nodes_per_token)
        imbalance = lay.expert_imbalance(E, R, ep)
        touched = lay.experts_touched_fraction(E, k, workload.batch)
        prefill = partial(_given, imbalance)
        law_needed = (np.asarray(fluctuation, dtype=bool) | (np.asarray(R) != 0)) & (E > 0)
        if np.any(law_needed):       # the batch's hottest rank, or replicas splitting an expert's tokens
            t = self._law_terms(cache.law(self.pi), layout, nodes, workload, fluctuation, cache)
            prefill = partial(_where, law_needed, t["prefill_imbalance"], imbalance)     # (closed form: no batch axis)
            imbalance = np.where(law_needed, t["imbalance"], imbalance)
            touched = np.where(law_needed, t["touched_fraction"], touched)
        return RoutingTerms(imbalance=imbalance, prefill_imbalance_of=prefill, touched_fraction=touched,
                            dropped_share=0.0, rerouted_share=0.0, remote_ranks=ranks, remote_nodes=remote_nodes,
                            scaleup_transfers=up, scaleup_peak=up, remote_nodes_peak=remote_nodes)


@dataclass(frozen=True)
class SkewedRouter(_Router):
    """Per-expert inclusion probabilities ``pi`` (sum k) and a capacity policy: at most
    C B k / E tokens per expert per step, the rest dropped or rerouted (C = None: no limit)."""
    pi: np.ndarray = field(default=None, compare=False)
    capacity_factor: float | None = None
    overflow: str = "drop"

    def terms(self, layout: Layout, nodes, workload: Workload, fluctuation,
              cache: RoutingCache | None = None) -> RoutingTerms:
        cache = cache or RoutingCache()
        t = self._law_terms(cache.law(self.pi), layout, nodes, workload, fluctuation, cache)
        E, k, ep = self.num_experts, self.top_k, layout.ep
        limited = self.closed_destinations(ep, nodes, layout.max_nodes_per_token)
        free = alltoall.destinations(E, k, ep, nodes, np.inf)
        ratio = [np.where(b > 0, a / np.where(b > 0, b, 1.0), 1.0) for a, b in zip(limited, free)]
        return RoutingTerms(imbalance=t["imbalance"], prefill_imbalance_of=t["prefill_imbalance"],
                            touched_fraction=t["touched_fraction"], dropped_share=t["dropped_share"],
                            rerouted_share=t["rerouted_share"], remote_ranks=t["remote_ranks"] * ratio[0],
                            remote_nodes=t["remote_nodes"] * ratio[1], scaleup_transfers=t["scaleup_transfers"] * ratio[2],
                            scaleup_peak=t["scaleup_peak"] * ratio[2], remote_nodes_peak=t["remote_nodes_peak"] * ratio[1])


Router = UniformRouter | SkewedRouter
