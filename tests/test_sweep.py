"""The sweep is the estimate engine broadcast: it must equal a loop of estimates, mask exactly
what estimate rejects, rank correctly and keep only undominated rows on its frontier."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from typer.testing import CliRunner

from moecalc.assumptions import Assumptions
from moecalc.cli import app
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, estimate
from moecalc.hardware import load_catalog
from moecalc.spec.load import load
from moecalc.deployment import EP_ALL
from moecalc.sweep import Constraints, Space, run_sweep

CATALOG = load_catalog()
SPACE = Space(gpu=("h100", "h200", "l40s", "mi300x"), gpus=(1, 2, 4, 8, 16), tp=(1, 2, 4, 8), pp=(1, 2),
              batch=(1, 7, 64, 300), context=(1024, 32768), weights_dtype=("bf16", "fp8"),
              kv_dtype=("bf16", "fp8"))
COMPARED = ("per_gpu_bytes", "tpot_seconds", "ttft_seconds", "tokens_per_s", "tokens_per_s_per_gpu",
            "usd_per_million_output_tokens")


def _collect(spec, space, **kw):
    rows = []
    result = run_sweep(spec, space, CATALOG, on_rows=rows.append, **kw)
    merged = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]} if rows else {}
    return result, merged


def _estimate_row(spec, row: dict, i: int, assumptions=Assumptions()):
    from moecalc.deployment import Deployment

    d = Deployment(gpu=row["gpu"][i], gpus=int(row["gpus"][i]), gpus_per_node=int(row["gpus_per_node"][i]),
                   tp=int(row["tp"][i]), ep=int(row["ep"][i]), dp=int(row["dp"][i]), pp=int(row["pp"][i]))
    w = Workload(batch=int(row["batch"][i]), context=int(row["context"][i]),
                 weights_dtype=row["weights_dtype"][i], kv_dtype=row["kv_dtype"][i])
    return estimate(spec, w, assumptions, None, d, CATALOG)


def _flat(r: dict) -> dict:
    return {"per_gpu_bytes": r["memory"]["per_gpu_bytes"], "tpot_seconds": r["perf"]["tpot_seconds"],
            "ttft_seconds": r["perf"]["ttft_seconds"], "tokens_per_s": r["perf"]["tokens_per_s"],
            "tokens_per_s_per_gpu": r["perf"]["tokens_per_s_per_gpu"],
            "usd_per_million_output_tokens": r["cost"]["usd_per_million_output_tokens"]}


def test_sweep_rows_equal_estimates_on_a_random_subset():
    """200 random feasible rows of a 10,240-configuration sweep, each re-run as one estimate:
    equal to 1e-9 relative (the same engine, evaluated on scalars instead of arrays)."""
    spec, _ = load("mixtral-8x7b")
    result, rows = _collect(spec, SPACE)
    assert result.summary["feasible"] == len(rows["gpu"]) > 200
    rng = np.random.default_rng(3)
    for i in rng.choice(len(rows["gpu"]), 200, replace=False):
        estimated = _estimate_row(spec, rows, i)
        got = _flat(estimated)
        for key in COMPARED:
            want = rows[key][i]
            if np.isnan(want):
                assert got[key] is None
            else:
                assert got[key] == pytest.approx(want, rel=1e-9)
        assert estimated["perf"]["bound"] == rows["bound"][i]


def test_sweep_masks_exactly_what_estimate_rejects():
    """Every configuration of a small space, looped through estimate: feasible iff the layout is
    accepted, it fits and it meets the constraint; the sweep's feasible set is the same."""
    spec, _ = load("qwen3-30b-a3b")
    space = Space(gpu=("h100", "l40s"), gpus=(1, 2, 3, 4), tp=(1, 2, 4), ep=(EP_ALL,), batch=(1, 256),
                  context=(4096, 131072))
    limit = Constraints(max_tpot_seconds=0.02)
    result, rows = _collect(spec, space, constraints=limit)
    swept = set(zip(rows["gpu"], rows["gpus"].tolist(), rows["tp"].tolist(), rows["batch"].tolist(),
                    rows["context"].tolist())) if rows else set()
    from moecalc.deployment import Deployment, default_ep
    m = spec.numbers()
    looped, evaluated = set(), 0
    for gpu in space.gpu:
        for n in space.gpus:
            for tp in space.tp:
                for b in space.batch:
                    for c in space.context:
                        evaluated += 1
                        if n % tp:
                            continue
                        dp = n // tp
                        d = Deployment(gpu=gpu, gpus=n, tp=tp, dp=dp, pp=1, ep=default_ep(m, n, 0, True))
                        try:
                            r = estimate(spec, Workload(batch=b, context=c), Assumptions(), None, d, CATALOG)
                        except MoecalcError:
                            continue
                        if r["memory"]["fits"] and r["perf"]["tpot_seconds"] <= 0.02:
                            looped.add((gpu, n, tp, b, c))
    assert result.summary["configs_enumerated"] == evaluated
    assert swept == looped and result.summary["feasible"] == len(looped)


@pytest.mark.parametrize("objective,key,smallest", [("cost", ("cost", "usd_per_million_output_tokens"), True),
                                                    ("latency", ("perf", "tpot_seconds"), True),
                                                    ("throughput", ("perf", "tokens_per_s_per_gpu"), False)])
def test_top_rows_are_the_best_in_order(objective, key, smallest):
    spec, _ = load("mixtral-8x7b")
    result, rows = _collect(spec, SPACE, objective=objective, top_n=5)
    values = [r[key[0]][key[1]] for r in result.top]
    assert values == sorted(values, reverse=not smallest)
    column = rows[key[1]]
    column = column[~np.isnan(column)]
    best = column.min() if smallest else column.max()
    assert values[0] == pytest.approx(best, rel=1e-12)


def test_frontier_rows_are_undominated_and_dominate_the_rest():
    spec, _ = load("mixtral-8x7b")
    result, rows = _collect(spec, SPACE)
    cost, tpot = rows["usd_per_million_output_tokens"], rows["tpot_seconds"]
    priced = ~np.isnan(cost)
    cost, tpot = cost[priced], tpot[priced]
    assert result.summary["pareto_points"] >= len(result.pareto) > 1
    for r in result.pareto:
        c, t = r["cost"]["usd_per_million_output_tokens"], r["perf"]["tpot_seconds"]
        dominated = (cost <= c) & (tpot <= t) & ((cost < c * (1 - 1e-12)) | (tpot < t * (1 - 1e-12)))
        assert not dominated.any()
    costs = [r["cost"]["usd_per_million_output_tokens"] for r in result.pareto]
    tpots = [r["perf"]["tpot_seconds"] for r in result.pareto]
    assert costs == sorted(costs) and tpots == sorted(tpots, reverse=True)


def test_top_row_reproduces_exactly_with_moecalc_estimate():
    """The printed command, run through the CLI, gives the same JSON as the sweep's top row."""
    runner = CliRunner()
    args = ["sweep", "deepseek-v3", "--gpu", "h100,h200,b200", "--gpus", "8,16", "--batch", "1,64,512",
            "--context", "4k,32k", "--format", "json"]
    out = json.loads(runner.invoke(app, args).stdout)
    top, command = out["top"][0], out["top_command"]
    assert command.startswith("moecalc estimate deepseek-v3 ")
    again = runner.invoke(app, shlex.split(command)[1:] + ["--format", "json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == top


def test_constraints_hold_on_every_feasible_row():
    spec, _ = load("mixtral-8x7b")
    c = Constraints(max_tpot_seconds=0.01, max_ttft_seconds=0.5, min_tokens_per_s=500, budget_usd_per_hour=40)
    result, rows = _collect(spec, SPACE, constraints=c)
    assert result.summary["feasible"] > 0
    assert (rows["tpot_seconds"] <= 0.01).all() and (rows["ttft_seconds"] <= 0.5).all()
    assert (rows["tokens_per_s"] >= 500).all() and (rows["usd_per_hour"] <= 40).all()


def test_nothing_feasible_says_why():
    spec, _ = load("deepseek-v3")
    r = run_sweep(spec, Space(gpu=("rtx4090",), gpus=(1, 2, 4)), CATALOG)
    assert r.summary["feasible"] == 0 and r.top == [] and "GB per GPU" in r.why_none
    mixtral, _ = load("mixtral-8x7b")
    r = run_sweep(mixtral, Space(gpu=("h100",), gpus=(2, 4)), CATALOG,
                  constraints=Constraints(max_tpot_seconds=1e-6))
    assert "TPOT" in r.why_none


def test_chunking_does_not_change_the_answer(monkeypatch):
    """Blocks of 64 configurations give the same summary, top rows and frontier as one block."""
    import moecalc.sweep as sweep

    spec, _ = load("mixtral-8x7b")
    space = Space(gpu=("h100", "h200"), gpus=(1, 2, 4, 8), batch=(1, 8, 64, 512), context=(4096, 32768))
    whole = run_sweep(spec, space, CATALOG, top_n=5)
    monkeypatch.setattr(sweep, "CHUNK", 64)
    parts = run_sweep(spec, space, CATALOG, top_n=5)
    for key in ("configs_enumerated", "feasible", "pareto_points"):
        assert whole.summary[key] == parts.summary[key]
    # what reaches the time model depends on the blocks (a block's batches are cut past the last
    # one that fits any of its layouts), but every configuration is evaluated or pruned
    for r in (whole, parts):
        s = r.summary
        assert s["configs_evaluated"] + sum(s["configs_pruned"].values()) == s["configs_enumerated"]
    assert whole.top == parts.top and whole.pareto == parts.pareto


# The progress bar's tests (silent off a terminal, shown after a second) live in
# tests/test_terminal_width.py with the shared helper, moecalc/render/progress.py.


def test_memory_pruning_changes_nothing_but_the_counts():
    """Rows pruned by the memory floor (a layout over capacity at the smallest batch) and the
    batch prefix (batches past the last that fits in a block) are rows that never fit: the
    sweep with pruning finds exactly the feasible set that estimate's loop finds, and the counts
    add up: enumerated = evaluated + pruned."""
    spec, _ = load("deepseek-v3")
    space = Space(gpu=("h100", "h200", "l40s"), gpus=(1, 8, 16), tp=(1, 8), ep=(EP_ALL,), batch=(1, 64, 4096),
                  context=(4096, 131072))
    result, rows = _collect(spec, space)
    s = result.summary
    assert s["configs_pruned"]["memory"] > 0
    assert s["configs_evaluated"] + sum(s["configs_pruned"].values()) == s["configs_enumerated"]
    m = spec.numbers()
    looped = set()
    from moecalc.deployment import Deployment, default_ep
    for gpu in space.gpu:
        for n in space.gpus:
            for tp in space.tp:
                if n % tp:
                    continue
                for b in space.batch:
                    for c in space.context:
                        d = Deployment(gpu=gpu, gpus=n, tp=tp, dp=n // tp, pp=1, ep=default_ep(m, n, 0, True))
                        try:
                            r = estimate(spec, Workload(batch=b, context=c), Assumptions(), None, d, CATALOG)
                        except MoecalcError:
                            continue
                        if r["memory"]["fits"]:
                            looped.add((gpu, n, tp, b, c))
    swept = set(zip(rows["gpu"], rows["gpus"].tolist(), rows["tp"].tolist(), rows["batch"].tolist(),
                    rows["context"].tolist())) if rows else set()
    assert swept == looped and s["feasible"] == len(looped) > 0


def test_dominance_coarse_test_holds_at_a_few_ulps_and_far_outside_the_range():
    """The coarse bucket test must never call a point dominated by itself or by a point to its
    right: a guide whose a spans a few ulps (the edges round onto the points), and points far
    left of the guide or at +inf or NaN (an integer cast of those wrapped to the last bucket).
    Both cases dropped real frontier points before the fix (found by a reviewer's fuzzer)."""
    from moecalc.sweep import Staircase, dominated, frontier

    f = np.array([1.0, np.nextafter(1.0, 2.0)])
    assert dominated(f, np.array([1.0, 0.5]), f, np.array([1.0, 0.5]), strict=True).tolist() == [False, False]
    far = dominated(np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([-1e300, np.nan, np.inf, 0.5]),
                    np.array([5.0, 5.0, 5.0, 0.5]), strict=True)
    assert far.tolist() == [False, False, True, False]

    u = np.finfo(float).eps
    st = Staircase()
    st.add_grid(np.array([[-(1 + 3000 * u), -1.0]]), np.array([[-1.0, -2.0]]), np.ones((1, 2), bool), lambda at: at)
    a, b = np.full((1, 5000), 5.0), np.full((1, 5000), 5.0)
    mask = np.zeros((1, 5000), bool)
    mask[0, :2] = True
    a[0, 1], b[0, 1] = -3000.0, -0.5                 # not in the block's strided sample
    st.add_grid(a, b, mask, lambda at: 100 + at)
    A, B = np.array([-(1 + 3000 * u), -1.0, 5.0, -3000.0]), np.array([-1.0, -2.0, 5.0, -0.5])
    assert st.index.tolist() == np.array([0, 1, 100, 101])[frontier(A, B)].tolist() == [101, 0, 1]


@pytest.mark.parametrize("sample, span", [(8192, 16), (16, 16), (1, 16), (16, 3), (1, 1), (16, 64)])
def test_staircase_grid_rows_are_the_frontier_of_their_masked_points(monkeypatch, sample, span):
    """add_grid (a run of a row dropped whole when the guide strictly beats its corner) keeps
    exactly what one frontier over every unmasked point keeps, the smaller id winning a tie, on
    random (rows, batches) grids with duplicates, masked points (some NaN, some below every
    unmasked one), NaN left out wherever it is, fully masked rows and runs, and rows not a whole number of runs long; ids given reversed, so that a tie is settled by
    id and not by position."""
    from moecalc.sweep import Staircase, frontier

    monkeypatch.setattr(Staircase, "SAMPLE", sample)
    monkeypatch.setattr(Staircase, "SPAN", span)
    rng = np.random.default_rng(11)
    for trial in range(20):
        st, seen_a, seen_b, seen_id, base = Staircase(), [], [], [], 10**6
        for block in range(4):
            rows, n = rng.integers(1, 60), rng.integers(1, 40)
            a = rng.integers(0, 30, (rows, n)).astype(float)
            b = rng.integers(0, 30, (rows, n)).astype(float)
            mask = rng.random((rows, n)) < 0.8
            mask[rng.random(rows) < 0.2] = False
            mask[:, : rng.integers(0, n + 1)] &= rng.random() < 0.7     # a masked run at the start
            a[~mask & (rng.random((rows, n)) < 0.3)] = np.nan           # masked: NaN or any value
            b[~mask & (rng.random((rows, n)) < 0.3)] = -1.0
            a[rng.random((rows, n)) < 0.03] = np.nan                    # NaN anywhere is left out
            b[rng.random((rows, n)) < 0.03] = np.nan
            ids = base - np.arange(rows * n)                 # falling ids: ties settled by id
            st.add_grid(a, b, mask, lambda at, ids=ids: ids[at])
            keep = (mask & ~np.isnan(a) & ~np.isnan(b)).reshape(-1)
            seen_a.append(a.reshape(-1)[keep]), seen_b.append(b.reshape(-1)[keep]), seen_id.append(ids[keep])
            base -= rows * n
        a, b, i = (np.concatenate(x) for x in (seen_a, seen_b, seen_id))
        assert st.index.tolist() == i[frontier(a, b, i)].tolist()


@pytest.mark.parametrize("sample", [8192, 16, 1])
def test_staircase_is_the_frontier_of_everything_added(monkeypatch, sample):
    """The incremental frontier (coarse bucket test, exact binary search, a large block thinned
    by its sample's frontier, survivors sorted) keeps exactly what one frontier over all points
    keeps, ties included (the earlier point stays), on random blocks with many duplicates; with
    the sample threshold lowered so that every block is thinned by a sample of itself."""
    from moecalc.sweep import Staircase, frontier

    monkeypatch.setattr(Staircase, "SAMPLE", sample)
    rng = np.random.default_rng(7)
    for trial in range(20):
        blocks = [(rng.integers(0, 50, n).astype(float), rng.integers(0, 50, n).astype(float))
                  for n in rng.integers(1, 400, 6)]
        st, start = Staircase(), 0
        for a, b in blocks:
            st.add(a, b, np.arange(start, start + len(a)))
            start += len(a)
        a = np.concatenate([x for x, _ in blocks])
        b = np.concatenate([y for _, y in blocks])
        assert st.index.tolist() == frontier(a, b).tolist()


def test_evenly_spaced_positions():
    """0..9 in 4: steps of 3, 0, 3, 6, 9; 0..3 in 3: 0, 1.5, 3 rounded (half to even) 0, 2, 3;
    0..2 in 5: all three; none of nothing."""
    from moecalc.sweep import evenly_spaced

    assert evenly_spaced(10, 4).tolist() == [0, 3, 6, 9]
    assert evenly_spaced(4, 3).tolist() == [0, 2, 3]
    assert evenly_spaced(3, 5).tolist() == [0, 1, 2]
    assert evenly_spaced(1, 20).tolist() == [0]
    assert evenly_spaced(0, 20).tolist() == []


def test_ranked_objective_puts_nan_and_inf_at_the_finite_ends():
    """The ranking key: sign x value, NaN (an unpriced row's cost) and +inf as the largest
    finite float, -inf as the least; all-finite values pass as they are (negated for a
    maximized objective)."""
    from moecalc.sweep import _ranked

    big = np.finfo(np.float64).max
    assert _ranked(np.array([1.0, np.nan, np.inf, -np.inf]), 1.0).tolist() == [1.0, big, big, -big]
    assert _ranked(np.array([2.0, 3.0]), -1.0).tolist() == [-2.0, -3.0]
    assert _ranked(np.array([2.0, np.nan]), -1.0).tolist() == [-2.0, big]
