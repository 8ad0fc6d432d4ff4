"""``moecalc sweep``: the deployment engine broadcast over GPU types, counts, layouts, batch,
context and dtypes, in bounded chunks; infeasible rows masked, feasible ones ranked, the
cost-latency frontier extracted.

No formula lives here: every number comes from one ``engine.scenario.Scenario`` of broadcast
arrays (the path ``estimate`` takes with scalars), and the layout rules from
``engine.layout.layout_problem``. Rows that are reported (top N, frontier) are re-run through
``estimate`` so that they carry exactly the keys of ``moecalc estimate --format json``.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from moecalc.assumptions import Assumptions
from moecalc.deployment import EP_ALL, Deployment, default_ep
from moecalc.engine import records as rec
from moecalc.engine.layout import LAYOUT_RULES, layout_problem
from moecalc.engine.results import BOUNDS, Served
from moecalc.engine.routing import RoutingCache
from moecalc.engine.scenario import Scenario
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, check_dtypes, estimate, weights_precision
from moecalc.hardware import Catalog, hardware_record
from moecalc.prices import sweep_prices
from moecalc.routers import Routing, apply_groups, engine_router

MAX_GRID = 1 << 34         # configurations one sweep enumerates (about an hour at today's rate)
CHUNK = 1 << 18            # configurations per evaluated block: bounds memory (~150 MB per block)
BLOCK_AXES = ("layout", "context", "weights", "kv", "batch")
"""The axes of an evaluated block. The batch is innermost: most of the engine's terms vary with
the layout and the batch and not the dtypes, and numpy broadcasts a long inner axis ~2x faster
than size-2 ones. Row ids (``grid_index``) keep the order (layout, batch, context, weights, KV)."""


def along(values, axis: str, rows: int | None = None) -> np.ndarray:
    """A 1-D axis as an array broadcasting along ``axis`` of a block; ``rows``: ``values`` is
    (rows, n) and its first axis is the layout's."""
    shape = [1] * len(BLOCK_AXES)
    shape[BLOCK_AXES.index(axis)] = -1
    if rows is not None:
        shape[0] = rows
    return np.asarray(values).reshape(shape)


@dataclass(frozen=True)
class RowView:
    """A block's numbers as a row sees them: the decode-step ``Served`` and, for a request
    workload, its ``RequestServed`` (whose latencies, rates and costs then win)."""
    served: Served
    requested: object = None        # engine.requests.RequestServed | None

    def __getattr__(self, name):
        if self.requested is not None and hasattr(self.requested, name):
            return getattr(self.requested, name)
        if name in ("usd_per_million_output_tokens", "usd_per_hour"):
            return getattr(self.served.cost, name)
        if name == "tokens_per_s_per_user":
            return 1.0 / self.served.tpot
        if name == "usd_per_request":
            return np.full(np.shape(self.served.tpot), np.nan)
        return getattr(self.served, name)


ROW_VALUES = {             # column of a written row -> its value in a RowView
    "per_gpu_bytes": lambda v: v.served.memory.total,
    "capacity_per_gpu_bytes": lambda v: v.served.memory.capacity,
    "tpot_seconds": lambda v: v.tpot,
    "ttft_seconds": lambda v: v.ttft,
    "tokens_per_s": lambda v: v.tokens_per_s,
    "tokens_per_s_per_gpu": lambda v: v.tokens_per_s_per_gpu,
    "tokens_per_s_per_user": lambda v: v.tokens_per_s_per_user,
    "usd_per_million_output_tokens": lambda v: v.usd_per_million_output_tokens,
    "usd_per_request": lambda v: v.usd_per_request,
    "usd_per_hour": lambda v: v.served.cost.usd_per_hour,
    "bound": lambda v: v.served.decode.bound,
}
OBJECTIVES = {             # objective -> (row column, best is smallest)
    "cost": ("usd_per_million_output_tokens", True),
    "throughput": ("tokens_per_s_per_gpu", False),
    "latency": ("tpot_seconds", True),
    "request-cost": ("usd_per_request", True),
}
ROW_KEYS = tuple(ROW_VALUES)
ROW_COLUMNS = ("gpu", "gpus", "gpus_per_node", "tp", "ep", "dp", "pp", "batch", "context", "isl", "osl", "weights_dtype",
               "kv_dtype") + ROW_KEYS
"""Columns of every feasible row written by ``--output``."""


@dataclass(frozen=True)
class Space:
    """The axes of a sweep; None for ``dp``/``ep``: derived per layout (dp = N/(tp pp), ep = auto)."""
    gpu: tuple[str, ...]
    gpus: tuple[int, ...]
    tp: tuple[int, ...] = (1, 2, 4, 8)
    pp: tuple[int, ...] = (1,)
    dp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    gpus_per_node: tuple[int, ...] | None = None      # None: each GPU's scale-up domain
    batch: tuple[int, ...] = (1,)
    context: tuple[int, ...] = (4096,)
    weights_dtype: tuple[str, ...] | None = None      # None: the spec's
    kv_dtype: tuple[str, ...] | None = None
    redundant_experts: int = 0
    max_nodes_per_token: int | None = None
    scale_out: str | None = None
    price_per_hour: float | None = None
    routing: Routing | None = None                   # None: uniform
    requests: tuple[tuple[int, int], ...] | None = None   # (ISL, OSL) pairs: a request workload
    mode: str = "continuous"
    mtp_tokens: int = 0

    @property
    def contexts(self) -> tuple[int, ...]:
        """The context axis: given, or each request shape's held context."""
        if self.requests is None:
            return self.context
        from moecalc.engine.requests import held_context

        return tuple(int(held_context(self.mode, i, o)) for i, o in self.requests)


@dataclass(frozen=True)
class Constraints:
    max_tpot_seconds: float | None = None
    max_ttft_seconds: float | None = None
    min_tokens_per_s: float | None = None            # output tokens/s of the whole deployment
    budget_usd_per_hour: float | None = None
    min_tokens_per_user: float | None = None         # output tokens/s one request sees (1 / TPOT)

    def check(self) -> None:
        for name, value in vars(self).items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise MoecalcError(f"must be a positive number, got {value!r}", field="--" + name)


@dataclass
class Layouts:
    """One row per (GPU type, count, node size, tp, pp, dp, ep) combination, as arrays."""
    gpu: list[str]
    cols: dict[str, np.ndarray]
    problem: np.ndarray                             # 0 valid, else 1 + index into LAYOUT_RULES

    def block(self, sl: slice, space: "Space") -> rec.Layout:
        """The rows ``sl`` as one Layout broadcasting along the grid's first axis."""
        col = {k: along(self.cols[k][sl], "layout") for k in ("tp", "dp", "pp", "ep", "gpus_per_node")}
        return rec.Layout(tp=col["tp"], dp=col["dp"], pp=col["pp"], ep=col["ep"],
                          redundant_experts=space.redundant_experts, gpus_per_node=col["gpus_per_node"],
                          max_nodes_per_token=np.inf if space.max_nodes_per_token is None else space.max_nodes_per_token)

    def subset(self, keep: np.ndarray) -> "Layouts":
        """The rows where ``keep`` (a mask), in their order."""
        at = np.flatnonzero(keep)
        return Layouts([self.gpu[i] for i in at], {k: v[at] for k, v in self.cols.items()}, self.problem[at])


def process_seconds() -> float:
    """Seconds since this process started (Linux: /proc; elsewhere since moecalc was imported):
    what an end-to-end rate divides by."""
    import os

    try:
        with open("/proc/self/stat") as fh:
            started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as fh:
            return max(float(fh.read().split()[0]) - started, 1e-9)
    except (OSError, ValueError, IndexError):
        import moecalc

        return time.perf_counter() - moecalc.IMPORTED


@dataclass
class Best:
    """Streaming top N: objective values and (layout, batch, context, weights, kv) indices."""
    n: int
    key: np.ndarray = field(default_factory=lambda: np.zeros(0))
    index: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), dtype=np.int64))

    def add(self, key: np.ndarray, index: np.ndarray) -> None:
        """Merge candidates (``key``: smaller is better); keep the best row per deployment
        (layout, context, dtypes: the batch is what a deployment tunes at run time), then the
        best ``n`` of those."""
        k = np.concatenate([self.key, key])
        i = np.concatenate([self.index, index])
        order = np.lexsort((i[:, 1], k))
        k, i = k[order], i[order]
        _, first = np.unique(i[:, [0, 2, 3, 4]], axis=0, return_index=True)
        first = np.sort(first)[: self.n]
        self.key, self.index = k[first], i[first]


def evenly_spaced(n: int, count: int) -> np.ndarray:
    """About ``count`` positions of 0..n-1, evenly spaced, first and last included: steps of
    (n - 1) / (count - 1) >= 1, so the rounded positions are distinct (no ``np.unique``, whose
    plain form imports numpy.ma, ~10 ms of a CLI run)."""
    return np.linspace(0, n - 1, min(count, n)).round().astype(int)


def frontier(cost: np.ndarray, tpot: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Indices of the cost-latency Pareto frontier (both minimized), ordered by cost.

    A row is on it when no other row is at most as costly and at most as slow, and better in
    one. Sort by (cost, TPOT); keep rows whose TPOT beats every cheaper row's. Of two equal
    rows the one with the smaller ``first`` stays (default: the earlier position).
    """
    order = np.lexsort((tpot, cost) if first is None else (first, tpot, cost))
    t = tpot[order]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(t)[:-1]])
    return order[t < best_before]


def dominated(fa: np.ndarray, fb: np.ndarray, a: np.ndarray, b: np.ndarray, strict: bool,
              buckets: int = 4096) -> np.ndarray:
    """Which points (a, b) a frontier (``fa`` rising, ``fb`` falling: ``frontier``'s output)
    dominates: some frontier point is at most as large in both (``strict``: and is not the same
    point). One binary search a point finds the frontier point with the largest fa <= a, whose
    fb is the least of all those; before it, a coarse test in O(1) a point settles most: g(e),
    the least fb with fa <= e, on a grid of edges e, and a point whose bucket's lower edge is
    strictly below its a (checked, not assumed from the rounding) and at or above whose g it
    lies is dominated by a point with a smaller a, so strictly."""
    if not len(fa) or not len(a):
        return np.zeros(len(a), dtype=bool)
    lo, hi = fa[0], fa[-1]
    if hi > lo and np.isfinite(hi - lo):            # (an infinite span: the exact search alone)
        width = (hi - lo) / buckets
        edges = lo + width * np.arange(buckets + 1)
        g = fb[np.maximum(np.searchsorted(fa, edges, side="right") - 1, 0)]
        # the bucket below the point's, clipped in floats before the cast (fmin/fmax take a
        # NaN to a bound, where the edge check below fails)
        position = np.fmax(np.fmin((a - lo) * (1.0 / width), buckets + 1.0), 0.0)
        at = np.maximum(position.astype(np.int64) - 1, 0)
        out = b >= g[at]
        out &= position >= 1.0
        out &= edges[at] < a
        near = np.flatnonzero(~out)
    else:
        out, near = np.zeros(len(a), dtype=bool), np.arange(len(a))
    at = np.searchsorted(fa, a[near], side="right") - 1
    s = np.maximum(at, 0)
    hit = (at >= 0) & (fa[s] <= a[near]) & (fb[s] <= b[near])
    if strict:
        hit &= ~((fa[s] == a[near]) & (fb[s] == b[near]))
    out[near] = hit
    return out


class Staircase:
    """A Pareto frontier (both coordinates minimized) kept across blocks. A block's points are
    held against a guide (``dominated``): the frontier so far, with a large block's strided
    sample of itself merged in; a point the guide strictly beats is dropped (an equal point
    stays, and the sort below keeps the one with the smaller id), and only the survivors are
    sorted. The result is ``frontier`` of every point added with ties to the smaller id (the
    first in the grid's order, whatever order the blocks add them in), without sorting them all."""

    SAMPLE = 2048           # a block of more points is thinned by a sample of about this many
    SPAN = 16               # points of a grid row tested together by their corner (add_grid)

    def __init__(self):
        self.a, self.b = np.zeros(0), np.zeros(0)
        self.index = np.zeros(0, dtype=np.int64)            # each point's row id in the grid

    def _guide(self, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The frontier of the points so far and, when the new points (a, b) are many, a strided
        sample of about ``SAMPLE`` of them (those in ``mask``): real points, so what the guide
        beats is beaten."""
        if len(a) <= 2 * self.SAMPLE:
            return self.a, self.b
        at = np.arange(0, len(a), len(a) // self.SAMPLE)
        if mask is not None:
            at = at[mask[at]]
        at = at[~(np.isnan(a[at]) | np.isnan(b[at]))]
        guide_a, guide_b = np.concatenate([self.a, a[at]]), np.concatenate([self.b, b[at]])
        f = frontier(guide_a, guide_b)
        return guide_a[f], guide_b[f]

    def add(self, a: np.ndarray, b: np.ndarray, index, guide=None) -> None:
        """Add points (a, b); ``index``: their row ids, or a function from positions among
        these points to their ids (asked only for the survivors)."""
        guide_a, guide_b = self._guide(a, b) if guide is None else guide
        at = np.flatnonzero(~dominated(guide_a, guide_b, a, b, strict=True))
        if not len(at):
            return
        a, b = a[at], b[at]
        ids = index(at) if callable(index) else np.asarray(index)[at]
        a, b = np.concatenate([self.a, a]), np.concatenate([self.b, b])
        ids = np.concatenate([self.index, ids])
        f = frontier(a, b, ids)
        self.a, self.b, self.index = a[f], b[f], ids[f]

    def add_grid(self, a: np.ndarray, b: np.ndarray, mask: np.ndarray, ids) -> None:
        """Add the points of a (rows, n) grid where ``mask`` and both coordinates are numbers
        (NaN is left out here, on the few points a test leaves, not over the grid by the
        caller); ``ids``: a function from flat positions in the grid to the points' row ids.
        Each row is cut into runs of ``SPAN`` points; a run whose corner (its least a, its least b) the guide strictly beats has every
        point strictly beaten, and goes whole: one test a run instead of one a point (a sweep's
        row is a deployment, n its batches: near batches have near costs and latencies, so a
        run's corner is close to its points, where a whole row's is not)."""
        rows, n = a.shape
        span = self.SPAN
        flat_a, flat_b, flat_mask = a.reshape(-1), b.reshape(-1), mask.reshape(-1)
        guide = self._guide(flat_a, flat_b, flat_mask)
        starts = np.arange(0, n, span)
        # the corner over every point of the run, masked or not: at or below its masked points'
        # (a masked point can only weaken the test, and NaN fails it), without a masked copy
        corner_a = np.minimum.reduceat(a, starts, axis=1).reshape(-1)
        corner_b = np.minimum.reduceat(b, starts, axis=1).reshape(-1)
        held = np.logical_or.reduceat(mask, starts, axis=1).reshape(-1)
        live = np.flatnonzero(held & ~dominated(*guide, corner_a, corner_b, strict=True))
        row, run = np.divmod(live, len(starts))
        offset = starts[run, None] + np.arange(span)[None, :]
        at = (row[:, None] * n + offset)[offset < n]
        at = at[flat_mask[at]]
        at = at[~(np.isnan(flat_a[at]) | np.isnan(flat_b[at]))]
        self.add(flat_a[at], flat_b[at], lambda i: ids(at[i]), guide=guide)


@dataclass
class SweepResult:
    summary: dict
    top: list[dict]
    pareto: list[dict]
    top_command: str | None
    why_none: str | None
    interactivity: list[dict] = field(default_factory=list)   # output tokens/s per GPU vs per user
    interactivity_by_gpu: dict[str, list[dict]] = field(default_factory=dict)   # ... each GPU type's own


def enumerate_layouts(m, space: Space, catalog: Catalog) -> Layouts:
    rows, gpus = [], []
    for name in space.gpu:
        key, acc = catalog.gpu(name)
        has_out = (space.scale_out or acc.scale_out) is not None
        nodes = space.gpus_per_node or (acc.scale_up_domain,)
        for n, g, tp, pp in itertools.product(space.gpus, nodes, space.tp, space.pp):
            dps = space.dp or ((n // (tp * pp)) if n % (tp * pp) == 0 else 0,)
            for dp in dps:
                stage = tp * max(dp, 1)
                # default: both conventions, experts split by TP (EP 1) and EP over the stage
                eps = dict.fromkeys(default_ep(m, stage, space.redundant_experts, ep == EP_ALL) if not ep else ep
                                    for ep in (space.ep or (1, EP_ALL)))
                for ep in eps:
                    rows.append((len(gpus), n, g, tp, pp, dp, ep, acc.scale_up_domain, has_out))
                    gpus.append(key)
    a = np.array(rows, dtype=np.int64).reshape(-1, 9)
    cols = dict(zip(("gpu_index", "gpus", "gpus_per_node", "tp", "pp", "dp", "ep", "domain", "has_out"), a.T))
    cols["dp_raw"] = cols["dp"].copy()
    cols["dp"] = np.maximum(cols["dp"], 1)          # dp = 0 marks "N not divisible": fails the gpus rule
    layout = rec.Layout(tp=cols["tp"], dp=cols["dp"], pp=cols["pp"], ep=cols["ep"],
                        redundant_experts=space.redundant_experts, gpus_per_node=cols["gpus_per_node"])
    problem = layout_problem(layout, m, np.where(cols["dp_raw"] > 0, cols["gpus"], -1), cols["domain"],
                             cols["has_out"].astype(bool))
    return Layouts(gpus, cols, problem)


def run_sweep(spec, space: Space, catalog: Catalog, assumptions: Assumptions = Assumptions(),
              constraints: Constraints = Constraints(), objective: str = "cost", top_n: int = 10,
              on_progress=None, on_rows=None, label: str | None = None, pareto_n: int = 20) -> SweepResult:
    """Evaluate every configuration of ``space``; rank the feasible ones by ``objective``.

    ``on_progress(done, total)`` is called after each block; ``on_rows(dict of arrays)`` gets
    every block's feasible rows (for ``--output``).
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise MoecalcError(f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}", field="--objective")
    constraints.check()
    m = apply_groups(spec.numbers(), space.routing, spec.name)
    # the spec's own storage: its dtype, or a GGUF file's exact bytes per component
    own = None if getattr(spec.dtypes, "component_bytes", None) else spec.dtypes.weights
    wdt = space.weights_dtype or (own,)
    kvd = space.kv_dtype or (spec.dtypes.kv_cache,)
    for k in kvd:
        check_dtypes(None, k)
    if space.mtp_tokens and not m.params.mtp:
        raise MoecalcError(f"{spec.name} has no MTP modules to draft with (mtp_layers is 0)", field="--mtp")
    precisions = [weights_precision(spec, m, w, kvd[0], assumptions) for w in wdt]
    labels = tuple(label for _, label, _ in precisions)             # what a row calls its weights
    enumerated = enumerate_layouts(m, space, catalog)
    layouts = enumerated.subset(enumerated.problem == 0)      # an invalid layout never reaches the engine
    router = engine_router(space.routing, m, spec.name)
    cache, solved_before = _kept_routing(router)
    ctx = np.asarray(space.contexts, dtype=np.float64)
    bat = np.asarray(space.batch, dtype=np.float64)
    kvb = np.array([assumptions.precision(spec.dtypes.weights, k).kv_bytes for k in kvd])
    runtime = assumptions.runtime()
    inner = (len(bat), len(ctx), len(wdt), len(kvd))
    n_layouts = len(layouts.gpu)
    total = n_layouts * math.prod(inner)
    if len(enumerated.gpu) * math.prod(inner) > MAX_GRID:
        raise MoecalcError(f"{len(enumerated.gpu) * math.prod(inner):,} configurations; a sweep takes at most "
                           f"{MAX_GRID:,} (narrow an axis)", field="--batch")
    pruned = {"invalid_layout": (len(enumerated.gpu) - n_layouts) * math.prod(inner)}

    def grid_index(gid: np.ndarray) -> np.ndarray:
        """Row ids -> (layout, batch, context, weights dtype, KV dtype) indices, one row each."""
        return np.stack(np.unravel_index(gid, (n_layouts,) + inner), axis=1).astype(np.int64).reshape(-1, 5)

    bulks = [bulk for _, _, bulk in precisions]
    closest = {"memory": None, "constraint": {}}
    # memory at the smallest batch is a floor for every batch: a layout over capacity there at
    # every context and dtype never fits, and its rows never reach the time model
    C = along(ctx, "context")
    W = along(np.arange(len(wdt)), "weights")
    precision = _precision_axis([p for p, _, _ in precisions], m, W, along(kvb, "kv"))
    floor = _memory_floor(m, layouts, space, catalog, bulks, assumptions, precision, runtime, C, bat.min(), closest)
    layouts = layouts.subset(floor)
    pruned["memory"] = (n_layouts - len(layouts.gpu)) * math.prod(inner)
    n_layouts = len(layouts.gpu)
    hw = _hardware_columns(layouts, space, catalog, bulks, assumptions)
    column, smallest = OBJECTIVES[objective]
    objective_of = ROW_VALUES[column]
    best = Best(top_n)
    sign = 1.0 if smallest else -1.0
    cost_front = Staircase()
    inter_front: dict[str, Staircase] = {}          # each GPU type's (-tokens/s per GPU, -per user)
    gpu_of_layout = np.asarray(layouts.gpu)
    feasible = 0
    b_step = max(1, min(len(bat), CHUNK // max(1, math.prod(inner[1:]))))
    l_step = max(1, CHUNK // (b_step * math.prod(inner[1:])))
    done = pruned["memory"]            # progress counts what the memory floor pruned as done
    requests = None
    if space.requests is not None:
        from moecalc.engine.requests import Requests

        isl = along(np.asarray([i for i, _ in space.requests], dtype=np.float64), "context")
        osl = along(np.asarray([o for _, o in space.requests], dtype=np.float64), "context")
        requests = Requests(isl=isl, osl=osl, mode=space.mode, mtp_tokens=space.mtp_tokens,
                            mtp_acceptance=assumptions.mtp_acceptance)
    # blocks never straddle two GPU types (the layouts come grouped by type), so that each type's
    # interactivity frontier takes a block whole
    starts = [0] + [i for i in range(1, n_layouts) if layouts.gpu[i] != layouts.gpu[i - 1]] + [n_layouts]
    blocks = [slice(l0, min(l0 + l_step, end)) for start, end in zip(starts, starts[1:])
              for l0 in range(start, end, l_step)]
    for sl in blocks:
        prob = along(layouts.problem[sl], "layout")
        layout = layouts.block(sl, space)
        hardware = _block(hw, sl)
        for b0 in range(0, len(bat), b_step):
            bs = slice(b0, min(b0 + b_step, len(bat)))
            workload = rec.Workload(context=C, batch=along(bat[bs], "batch"))
            scenario = Scenario(m, workload, precision, runtime, layout, hardware, router)
            ev = scenario.evaluate()
            # the batches past the last that fits anywhere in the block: memory only grows with
            # the batch, so they are cut before the time model
            memory = scenario.memory(ev)
            fitting = np.broadcast_to(memory.fits, (sl.stop - sl.start,) + inner[1:]
                                      + (bs.stop - bs.start,)).any(axis=(0, 1, 2, 3))
            last = np.flatnonzero(fitting)
            cut = (bs.stop - bs.start) - (last[-1] + 1 if len(last) else 0)
            pruned["memory"] += cut * (sl.stop - sl.start) * math.prod(inner[1:])
            done += cut * (sl.stop - sl.start) * math.prod(inner[1:])
            if not len(last):
                continue
            if cut:
                bs = slice(b0, b0 + int(last[-1]) + 1)
                workload = rec.Workload(context=C, batch=along(bat[bs], "batch"))
                scenario = Scenario(m, workload, precision, runtime, layout, hardware, router)
                ev = scenario.evaluate()
                memory = None                       # of the longer batch axis
            served = scenario.serve(ev, cache=cache, limits=False, memory=memory)
            s = RowView(served, None if requests is None else
                        scenario.serve_requests(requests, ev, cache=cache, limits=False))
            shape = (sl.stop - sl.start,) + inner[1:] + (bs.stop - bs.start,)
            valid = np.broadcast_to(prob == 0, shape)
            fits = valid & served.memory.fits
            ok = fits & _meets(s, constraints)
            done += math.prod(shape)
            if not feasible:            # the nearest miss explains an empty result only
                _track_closest(closest, s, valid, fits, constraints)
            count = int(np.count_nonzero(ok))
            feasible += count
            if count:
                per_batch = math.prod(inner[1:])

                def grid_ids(at, sl=sl, bs=bs):
                    """Positions in the block (layout, context, weights, KV, batch) -> ids in
                    the whole grid (layout, batch, context, weights, KV)."""
                    block_layout, rest = np.divmod(at, per_batch * (bs.stop - bs.start))
                    tail, block_batch = np.divmod(rest, bs.stop - bs.start)
                    return ((block_layout + sl.start) * len(bat) + block_batch + bs.start) * per_batch + tail

                def by_batch(v):        # v over the block as (deployment, batch) rows
                    return np.broadcast_to(v, shape).reshape(-1, shape[-1])

                # best batch of each deployment in this block, ranked on the signed objective
                signed = np.where(ok, _ranked(objective_of(s), sign), np.inf)
                at = np.argmin(signed, axis=-1)
                kept = np.take_along_axis(signed, at[..., None], axis=-1)[..., 0]
                dep = np.nonzero(ok.any(axis=-1))
                best.add(kept[dep], np.stack([dep[0] + sl.start, at[dep] + bs.start, dep[1], dep[2], dep[3]], axis=1))
                rows_ok = by_batch(ok)
                tpot, cost = by_batch(s.tpot), by_batch(s.usd_per_million_output_tokens)
                cost_front.add_grid(cost, tpot, rows_ok, grid_ids)
                # the block's GPU type's own frontier (a point another type beats stays on its type's)
                inter_front.setdefault(layouts.gpu[sl.start], Staircase()).add_grid(
                    -by_batch(s.tokens_per_s_per_gpu), -by_batch(s.tokens_per_s_per_user), rows_ok, grid_ids)
                if on_rows is not None:
                    flat = np.flatnonzero(ok)
                    ids = grid_ids(flat)
                    order = np.argsort(ids, kind="stable")          # rows written in grid order
                    on_rows(_rows(s, flat[order], shape, grid_index(ids[order]), layouts, space, labels, kvd))
            if on_progress is not None:
                on_progress(done, total)
    seconds = time.perf_counter() - t0
    _keep_routing(router, cache, solved_before)
    pareto_index = grid_index(cost_front.index)

    inter_rows, inter_by_gpu = [], {}
    if inter_front:
        fronts = [inter_front[t] for t in dict.fromkeys(layouts.gpu) if t in inter_front]     # catalog order
        ig, iu = -np.concatenate([f.a for f in fronts]), -np.concatenate([f.b for f in fronts])
        ii = grid_index(np.concatenate([f.index for f in fronts]))

        def points(keep):          # the frontier by falling interactivity, pareto_n points evenly spaced
            order = keep[np.argsort(-iu[keep])]
            shown_i = evenly_spaced(len(order), pareto_n)
            return [_frontier_row(ii[order[j]], ig[order[j]], iu[order[j]], layouts, space, labels, kvd, bat)
                    for j in shown_i]

        inter_rows = points(frontier(-ig, -iu))
        kind = gpu_of_layout[ii[:, 0]]
        for t in dict.fromkeys(layouts.gpu):        # catalog order
            mine = np.flatnonzero(kind == t)
            if len(mine):
                inter_by_gpu[t] = points(mine[frontier(-ig[mine], -iu[mine])])

    def report(i) -> dict:
        d, w = _config(i, layouts, space, wdt, kvd, bat, ctx)
        return estimate(spec, w, assumptions, label, d, catalog, routing=space.routing, cache=cache)

    top = [report(i) for i in best.index]
    shown = evenly_spaced(len(pareto_index), pareto_n)
    pareto = [report(pareto_index[i]) for i in shown] if len(pareto_index) else []
    enumerated_n = len(enumerated.gpu) * math.prod(inner)
    since_start = process_seconds()
    summary = {"configs_enumerated": int(enumerated_n),
               "configs_evaluated": int(total - sum(v for k, v in pruned.items() if k != "invalid_layout")),
               "configs_pruned": {k: int(v) for k, v in pruned.items()}, "feasible": int(feasible),
               "seconds": seconds, "seconds_since_start": since_start,
               "layouts": len(enumerated.gpu), "invalid_layouts": int(np.count_nonzero(enumerated.problem)),
               "objective": objective, "configs_per_s": enumerated_n / since_start if since_start else None,
               "configs_per_s_engine": enumerated_n / seconds if seconds else None,
               "pareto_points": int(len(pareto_index)), "pareto_shown": len(pareto),
               "warnings": sweep_warnings(spec, space), "close_call": close_call(top, objective)}
    why = None if feasible else _why_none(enumerated, closest, constraints, catalog)
    summary.update(sweep_prices(catalog, space.gpu, space.price_per_hour))    # unpriced, stale and undated types
    return SweepResult(summary, top, pareto, estimate_command(top[0], label) if top else None, why, inter_rows,
                       inter_by_gpu)


CLOSE_CALL = 0.05
"""Two GPU types whose best rows are within 5% on the objective: a close call, explained."""

DECODE_TERMS = {            # perf.decode term -> the hardware input behind it
    "compute_seconds": "dense peak FLOP/s",
    "memory_seconds": "HBM bandwidth",
    "comm_seconds": "the links' bandwidth and latency (scale-up, scale-out)",
    "overhead_seconds": "the per-layer launch and sync overhead",
}


def close_call(rows: list[dict], objective: str) -> dict | None:
    """When the best rows of the two best GPU types are within ``CLOSE_CALL`` of each other on
    the objective, the decode terms that decide it: the one favouring the leader most and the one
    favouring the runner-up most, each with the hardware input behind it (B200 behind H200 at
    batch 1: NVLink5's latency input). None when one GPU type wins clearly or only one is ranked."""
    column, _ = OBJECTIVES[objective]
    first = rows[0] if rows else None
    second = next((r for r in rows if r["deployment"]["gpu"] != first["deployment"]["gpu"]), None) if first else None
    if second is None:
        return None

    a, b = (r["cost" if column.startswith("usd") else "perf"].get(column) for r in (first, second))
    if a is None or b is None or not a or abs(b / a - 1) > CLOSE_CALL:
        return None
    ta, tb = first["perf"]["decode"], second["perf"]["decode"]
    ahead = {t: tb[t] - ta[t] for t in DECODE_TERMS}        # > 0: the term favours the first GPU type

    def term(t):
        return None if t is None else {"term": t, "seconds": [ta[t], tb[t]], "input": DECODE_TERMS[t]}
    best, worst = max(ahead, key=ahead.get), min(ahead, key=ahead.get)
    return {"gpus": [first["deployment"]["gpu"], second["deployment"]["gpu"]], "gap": b / a - 1,
            "objective": column, "for_first": term(best if ahead[best] > 0 else None),
            "against_first": term(worst if ahead[worst] < 0 else None)}


def sweep_warnings(spec, space: Space) -> list[str]:
    """What the user should know about the space itself: sequences past the model's
    max_position_embeddings (the rows there are computed, and flagged here once)."""
    workloads = ([Workload(isl=isl, osl=osl) for isl, osl in space.requests] if space.requests is not None
                 else [Workload(context=c) for c in space.contexts])
    beyond = spec.context_warning(*max(w.longest_sequence for w in workloads))
    return [beyond] if beyond else []


def _routing_key(router) -> bytes:
    """Everything a router's solved terms depend on (the layout keys hold EP, nodes, R)."""
    pi = getattr(router, "pi", None)
    return (f"{type(router).__name__} {router.num_experts} {router.top_k} {router.groups} "
            f"{router.capacity_factor} {router.overflow} ").encode() + np.asarray(pi, dtype=np.float64).tobytes()


def _kept_routing(router) -> tuple[RoutingCache, int]:
    """The routing terms earlier sweeps of this router solved (``moecalc.cache``), or none."""
    from moecalc import cache as disk

    kept = disk.load("routing", _routing_key(router))
    kept = kept if isinstance(kept, RoutingCache) else RoutingCache()
    return kept, kept.solved_count()


def _keep_routing(router, kept: RoutingCache, before: int) -> None:
    """Store the routing terms for the next sweep when this one solved new ones."""
    if kept.solved_count() > before:
        from moecalc import cache as disk

        disk.store("routing", _routing_key(router), kept)


CONSTRAINED = (("max_tpot_seconds", "tpot_seconds", True), ("max_ttft_seconds", "ttft_seconds", True),
               ("min_tokens_per_s", "tokens_per_s", False), ("budget_usd_per_hour", "usd_per_hour", True),
               ("min_tokens_per_user", "tokens_per_s_per_user", False))
"""Constraint -> the row column it bounds, and whether it is an upper bound."""


def _ranked(value: np.ndarray, sign: float) -> np.ndarray:
    """``sign`` x value with NaN and +-inf as the largest and least finite floats (an unpriced
    row's NaN cost ranks after every priced one, before an infeasible row's inf): numpy's
    ``nan_to_num``, skipped when every value is finite (it makes six passes over the grid)."""
    signed = value if sign == 1.0 else sign * value
    return signed if np.isfinite(signed).all() else np.nan_to_num(signed, nan=np.finfo(np.float64).max)


def _meets(s: Served, c: Constraints) -> np.ndarray:
    ok = np.ones((), dtype=bool)
    for name, column, upper in CONSTRAINED:
        limit = getattr(c, name)
        if limit is not None:                                   # unpriced rows (NaN) fail a budget
            value = ROW_VALUES[column](s)
            ok = ok & ((value <= limit) if upper else (value >= limit))
    return ok


def _track_closest(closest: dict, s: Served, valid, fits, c: Constraints) -> None:
    """Keep what a 'nothing is feasible' message needs: the smallest memory overshoot among
    valid layouts, and the best value of each constrained quantity among rows that fit."""
    if valid.any():
        total, capacity = s.memory.total, s.memory.usable
        over = np.where(valid, total / capacity, np.inf)
        i = np.unravel_index(np.argmin(over), over.shape)
        need = float(np.broadcast_to(total, over.shape)[i])
        cap = float(np.broadcast_to(capacity, over.shape)[i])
        if closest["memory"] is None or need / cap < closest["memory"][0] / closest["memory"][1]:
            closest["memory"] = (need, cap)
    if fits.any():
        for name, column, smallest in CONSTRAINED:
            if getattr(c, name) is None:
                continue
            sign = 1.0 if smallest else -1.0
            v = np.where(fits, sign * ROW_VALUES[column](s), np.inf)
            v = float(np.nanmin(v)) if np.isfinite(v).any() else math.inf
            prev = closest["constraint"].get(name, math.inf)
            closest["constraint"][name] = min(prev, v)          # stored signed: smaller is better


def _memory_floor(m, layouts: Layouts, space: Space, catalog: Catalog, bulks, a: Assumptions, precision, runtime,
                  C, smallest_batch: float, closest: dict) -> np.ndarray:
    """Which layouts fit anywhere: per-GPU memory at the smallest batch (a floor: memory only
    grows with the batch) for every context and dtype, in chunks; the smallest overshoot is
    kept for a 'nothing fits' message."""
    keep = np.zeros(len(layouts.gpu), dtype=bool)
    if not len(layouts.gpu):
        return keep
    hw = _hardware_columns(layouts, space, catalog, bulks, a)
    step = max(1, CHUNK // max(1, C.size * precision.kv_bytes.size * np.size(precision.quantized_bits)))
    for l0 in range(0, len(layouts.gpu), step):
        sl = slice(l0, min(l0 + step, len(layouts.gpu)))
        layout = layouts.block(sl, space)
        workload = rec.Workload(context=C, batch=np.full((1, 1, 1, 1, 1), smallest_batch))
        scenario = Scenario(m, workload, precision, runtime, layout, _block(hw, sl))
        mem = scenario.memory(scenario.evaluate())
        shape = np.broadcast_shapes(np.shape(mem.total), np.shape(mem.usable), (sl.stop - sl.start, 1, 1, 1, 1))
        fits = np.broadcast_to(mem.fits, shape)
        keep[sl] = fits.reshape(shape[0], -1).any(axis=1)
        over = np.broadcast_to(mem.total / mem.usable, shape)
        i = np.unravel_index(np.argmin(over), shape)
        need, cap = float(np.broadcast_to(mem.total, shape)[i]), float(np.broadcast_to(mem.usable, shape)[i])
        if closest["memory"] is None or need / cap < closest["memory"][0] / closest["memory"][1]:
            closest["memory"] = (need, cap)
    return keep


def _why_none(layouts: Layouts, closest: dict, c: Constraints, catalog: Catalog) -> str:
    if not (layouts.problem == 0).any():
        codes, counts = np.unique(layouts.problem, return_counts=True)
        rule = LAYOUT_RULES[codes[np.argmax(counts)] - 1]
        return (f"no valid layout among {len(layouts.gpu)}: most break the '{rule}' rule "
                f"(e.g. tp x dp x pp must equal the GPU count; heads must divide over tp)")
    if closest["constraint"]:
        parts = []
        fmt = {"max_tpot_seconds": lambda v: f"fastest TPOT is {v * 1e3:,.2f} ms, over --max-tpot-ms {c.max_tpot_seconds * 1e3:g}",
               "max_ttft_seconds": lambda v: f"fastest TTFT is {v * 1e3:,.1f} ms, over --max-ttft-ms {c.max_ttft_seconds * 1e3:g}",
               "min_tokens_per_s": lambda v: f"most output tokens/s is {-v:,.1f}, under --min-tokens-per-s {c.min_tokens_per_s:g}",
               "min_tokens_per_user": lambda v: (f"most output tokens/s per user is {-v:,.1f}, under "
                                                 f"--min-tokens-per-user {c.min_tokens_per_user:g}"),
               "budget_usd_per_hour": lambda v: (f"cheapest fitting deployment costs ${v:,.2f}/hour, over --budget-usd-per-hour "
                                                 f"{c.budget_usd_per_hour:g}" if math.isfinite(v) else
                                                 "no fitting deployment has a price (--price-per-hour)")}
        for name, v in closest["constraint"].items():
            parts.append(fmt[name](v))
        return "configurations fit, but none meets the constraints: " + "; ".join(parts)
    need, cap = closest["memory"]
    return (f"nothing fits: the best layout needs {need / 1e9:,.1f} GB per GPU and holds "
            f"{cap / 1e9:,.1f} GB; add GPUs, lower the batch or context, or use lower-bit dtypes")


def _hardware_columns(layouts: Layouts, space: Space, catalog: Catalog, wdt, a: Assumptions) -> rec.Hardware:
    """One Hardware record for the layout rows: every field a column (one value per row), the
    peak FLOPs a (row, weight dtype) table; each GPU type's record made once, and its values
    taken by the rows of that type."""
    types = list(dict.fromkeys(layouts.gpu))
    per_type = [[hardware_record(catalog.gpu(key)[1], catalog, w, a, space.scale_out, space.price_per_hour)[0]
                 for w in wdt] for key in types]
    where = {key: i for i, key in enumerate(types)}
    at = np.asarray([where[g] for g in layouts.gpu], dtype=np.int64)

    def column(get):
        return np.asarray([get(r[0]) for r in per_type], dtype=np.float64)[at]

    def link(name):
        return rec.Link(*(column(lambda h, f=f: getattr(getattr(h, name), f)) for f in ("bandwidth", "latency",
                                                                                          "efficiency")))

    def by_dtype(get):
        return np.asarray([[get(h) for h in r] for r in per_type], dtype=np.float64).reshape(len(types), len(wdt))[at]

    return rec.Hardware(memory_capacity=column(lambda h: h.memory_capacity),
                        hbm_bandwidth=column(lambda h: h.hbm_bandwidth),
                        peak_flops=by_dtype(lambda h: h.peak_flops),
                        scale_up=link("scale_up"), scale_out=link("scale_out"),
                        price_per_hour=column(lambda h: h.price_per_hour),
                        dense_peak_flops=by_dtype(lambda h: h.dense_peak), attention_peak_flops=by_dtype(lambda h: h.attention_peak),
                        stack_efficiency=column(lambda h: h.stack_efficiency))


def _block(hw: rec.Hardware, sl: slice) -> rec.Hardware:
    """The rows ``sl`` of the hardware columns, shaped to broadcast over a block
    (``BLOCK_AXES``); the peak FLOPs vary along the weights-dtype axis."""
    def cut(v):
        return along(v[sl], "layout")
    return rec.Hardware(memory_capacity=cut(hw.memory_capacity), hbm_bandwidth=cut(hw.hbm_bandwidth),
                        peak_flops=along(hw.peak_flops[sl], "weights", rows=sl.stop - sl.start),
                        scale_up=rec.Link(*(cut(getattr(hw.scale_up, f)) for f in ("bandwidth", "latency", "efficiency"))),
                        scale_out=rec.Link(*(cut(getattr(hw.scale_out, f)) for f in ("bandwidth", "latency",
                                                                                      "efficiency"))),
                        price_per_hour=cut(hw.price_per_hour),
                        dense_peak_flops=along(hw.dense_peak[sl], "weights", rows=sl.stop - sl.start),
                        attention_peak_flops=along(hw.attention_peak[sl], "weights", rows=sl.stop - sl.start),
                        stack_efficiency=cut(hw.stack_efficiency))


def _config(i, layouts: Layouts, space: Space, wdt, kvd, bat, ctx) -> tuple[Deployment, Workload]:
    li, bi, ci, wi, ki = (int(x) for x in i)
    c = {k: int(v[li]) for k, v in layouts.cols.items()}
    d = Deployment(gpu=layouts.gpu[li], gpus=c["gpus"], gpus_per_node=c["gpus_per_node"], tp=c["tp"], ep=c["ep"],
                   dp=c["dp"], pp=c["pp"], redundant_experts=space.redundant_experts,
                   max_nodes_per_token=space.max_nodes_per_token, scale_out=space.scale_out,
                   price_per_hour=space.price_per_hour)
    if space.requests is not None:
        isl, osl = space.requests[ci]
        return d, Workload(batch=int(bat[bi]), weights_dtype=wdt[wi], kv_dtype=kvd[ki], isl=isl, osl=osl,
                           mode=space.mode, mtp_tokens=space.mtp_tokens)
    return d, Workload(context=int(ctx[ci]), batch=int(bat[bi]), weights_dtype=wdt[wi], kv_dtype=kvd[ki])


def _frontier_row(i, gpu_rate, user_rate, layouts: Layouts, space: Space, wdt, kvd, bat) -> dict:
    """One point of the throughput-interactivity frontier, as a flat row."""
    li, bi, ci, wi, ki = (int(x) for x in i)
    row = {"gpu": layouts.gpu[li], **{k: int(layouts.cols[k][li]) for k in ("gpus", "tp", "ep", "dp", "pp")},
           "batch": int(bat[bi]), "weights_dtype": wdt[wi], "kv_dtype": kvd[ki],
           "tokens_per_s_per_gpu": float(gpu_rate), "tokens_per_s_per_user": float(user_rate)}
    if space.requests is not None:
        row["isl"], row["osl"] = space.requests[ci]
    else:
        row["context"] = int(space.context[ci])
    return row


def _precision_axis(precisions, m, W, kv_bytes) -> rec.Precision:
    """One Precision broadcasting over the weight-dtype alternatives (axis 3): each component's
    matrix bits per alternative, so that per-component dtypes mix freely with plain ones."""
    def bits(p, c):
        own = dict(p.component_bits)
        return own.get(c, p.quantized_bits if c in m.quantized else p.unquantized_bits)
    table = {c: np.asarray([bits(p, c) for p in precisions], dtype=np.float64)[W] for c in m.params.matrix}
    return rec.Precision(quantized_bits=np.asarray([p.quantized_bits for p in precisions], dtype=np.float64)[W],
                         unquantized_bits=np.asarray([p.unquantized_bits for p in precisions], dtype=np.float64)[W],
                         kv_bytes=kv_bytes, component_bits=tuple(table.items()))


def _rows(s, flat, shape, index, layouts: Layouts, space: Space, wdt, kvd) -> dict:
    li = index[:, 0]
    out = {"gpu": np.asarray(layouts.gpu, dtype=object)[li]}
    for k in ("gpus", "gpus_per_node", "tp", "ep", "dp", "pp"):
        out[k] = layouts.cols[k][li]
    out["batch"] = np.asarray(space.batch)[index[:, 1]]
    out["context"] = np.asarray(space.contexts)[index[:, 2]]
    shapes = space.requests or [(None, None)] * len(space.context)
    out["isl"] = np.asarray([i for i, _ in shapes], dtype=object)[index[:, 2]]
    out["osl"] = np.asarray([o for _, o in shapes], dtype=object)[index[:, 2]]
    out["weights_dtype"] = np.asarray(wdt, dtype=object)[index[:, 3]]
    out["kv_dtype"] = np.asarray(kvd, dtype=object)[index[:, 4]]
    for k, value in ROW_VALUES.items():
        v = np.broadcast_to(value(s), shape).reshape(-1)[flat]
        out[k] = np.asarray(BOUNDS, dtype=object)[v] if k == "bound" else v
    return out


def estimate_command(r: dict, label: str | None) -> str:
    """The ``moecalc estimate`` command that reproduces one sweep row."""
    d, w = r["deployment"], r["workload"]
    spec = (label or r["model"]["name"]).removesuffix(" (bundled)")
    parts = [f"moecalc estimate {spec}", f"--gpu {d['gpu']}", f"--gpus {d['gpus']}",
             f"--gpus-per-node {d['gpus_per_node']}", f"--tp {d['tp']}", f"--ep {d['ep']}", f"--dp {d['dp']}",
             f"--pp {d['pp']}", f"--batch {w['batch']}"]
    if w.get("isl") is not None:
        parts += [f"--isl {w['isl']}", f"--osl {w['osl']}", f"--mode {w['mode']}"]
        if w.get("mtp_tokens"):
            parts.append(f"--mtp {w['mtp_tokens']}")
    else:
        parts.append(f"--context {w['context']}")
    parts += [
             f"--weights-dtype {w['weights_dtype']}", f"--kv-dtype {w['kv_dtype']}"]
    if d["redundant_experts"]:
        parts.append(f"--redundant-experts {d['redundant_experts']}")
    if d["max_nodes_per_token"] is not None:
        parts.append(f"--max-nodes-per-token {d['max_nodes_per_token']}")
    if r["hardware"]["price_source"] == "--price-per-hour":
        parts.append(f"--price-per-hour {r['hardware']['price_per_gpu_hour']}")
    parts += routing_options(r.get("routing"))
    return " ".join(parts)


def routing_options(section: dict | None) -> list[str]:
    """The command-line options that give a result's routing model (none for plain uniform)."""
    if not section:
        return []
    out = []
    if section["model"] != "uniform":
        value = section["file"] if section["model"] == "file" else f"{section['parameter']:g}"
        out.append(f"--routing {section['model']}:{value}")
        if section["model"] != "file" and section["seed"]:
            out.append(f"--seed {section['seed']}")
    if section["capacity_factor"] is not None:
        out.append(f"--capacity-factor {section['capacity_factor']:g}")
        if section["overflow"] != "drop":
            out.append(f"--overflow {section['overflow']}")
    if section.get("groups") is not None:
        out.append(f"--groups {section['groups']}")
    return out

