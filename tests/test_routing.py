"""Skewed routing: the closed forms by hand, against a seeded Monte Carlo (within 1% at 10^5
tokens), their limits (uniform, full collapse), and what they do to a deployment's numbers."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecalc.assumptions import Assumptions
from moecalc.deployment import EP_ALL, Deployment
from moecalc.engine.routing import capacity, extremes, groups, law, placement, terms
from moecalc.engine.alltoall import destinations
from moecalc.engine.layout import expert_imbalance, experts_touched_fraction
from moecalc.estimate import Workload, estimate
from moecalc.routers import Routing, inclusion, parse_routing
from moecalc.spec.load import load

SAMPLES = 100_000


def router_for(routing, E, k, name):
    return law.solve(inclusion(routing, E, k, name))


def zipf_router(E=64, k=4, s=0.9, seed=0):
    return router_for(Routing("zipf", value=s, seed=seed), E, k, "test")


def dirichlet_router(E=64, k=4, alpha=0.5, seed=0):
    return router_for(Routing("dirichlet", value=alpha, seed=seed), E, k, "test")


@pytest.fixture(scope="module")
def draws():
    """10^5 tokens from each of three routers (uniform, Zipf 0.9, Dirichlet 0.5), E=64, k=4."""
    rng = np.random.default_rng(12345)
    routers = {"uniform": law.solve(np.full(64, 4 / 64)), "zipf": zipf_router(), "dirichlet": dirichlet_router()}
    return {name: (r, law.sample_sets(r, SAMPLES, rng)) for name, r in routers.items()}


# ---- by hand -------------------------------------------------------------------------------
def test_water_fill_by_hand():
    """w = (4,1,1,1,1), total 2, cap 1: lam = 2/8, 4 lam = 1 is not over the cap -> (1, .25 x 4).
    w = (9,1,1,1): lam = 2/12 gives 1.5 > 1, so saturate it: lam = (2-1)/3 -> (1, 1/3 x 3)."""
    assert law.water_fill([4, 1, 1, 1, 1], 2) == pytest.approx([1, .25, .25, .25, .25])
    assert law.water_fill([1, 9, 1, 1], 2) == pytest.approx([1 / 3, 1, 1 / 3, 1 / 3])


def test_elementary_symmetric_polynomials_by_hand():
    """e_j of (1, 2, 3): e_0 = 1, e_1 = 6, e_2 = 1*2 + 1*3 + 2*3 = 11, e_3 = 6 (the recurrence);
    a uniform router's 256 ranks, each without its own expert: C(255, j) exactly (the binomial
    form, (1 + t)^255); and each path equals the product expanded term by term, prod_i (1 + w_i t)."""
    assert law.esp(np.array([[1.0, 2.0, 3.0]]), 3).tolist() == [[1.0, 6.0, 11.0, 6.0]]
    ranks = 1.0 - np.eye(256)
    assert law.esp(ranks, 8).tolist() == [[float(comb(255, j)) for j in range(9)]] * 256
    rng = np.random.default_rng(5)
    for w in (rng.random((6, 10)), rng.choice([0.0, 0.7, 1.3], size=(6, 40))):
        poly = np.ones((len(w), 1))
        for i in range(w.shape[1]):
            poly = np.stack([np.convolve(row, [1.0, x]) for row, x in zip(poly, w[:, i])])
        assert law.esp(w, 5) == pytest.approx(poly[:, :6], rel=1e-13)
    # a row's polynomials never depend on another row's values, and wide binomials stay finite
    # (both broke the first binomial form: 0 x inf from a power of a value the row lacks,
    # C(1024, j) overflowing)
    odd = np.ones((2, 100))
    odd[0, 0] = 1e40
    assert law.esp(odd, 8)[1].tolist() == [float(comb(100, j)) for j in range(9)]
    assert np.isfinite(law.esp(np.ones((1, 1024)), 512)).all()


def test_sampler_blocks_draw_the_same_sets():
    """Tokens are drawn in blocks for speed; the uniforms are the same stream, so a block size
    changes nothing: 10,000 tokens in one block or in blocks of 777 give the same sets."""
    r = zipf_router(E=64, k=4)
    whole = law.sample_sets(r, 10_000, np.random.default_rng(11), block=10_000)
    assert np.array_equal(whole, law.sample_sets(r, 10_000, np.random.default_rng(11), block=777))
    assert (whole.sum(axis=1) == 4).all()


def test_conditional_poisson_by_hand():
    """E=3, k=2, odds w=(1,2,3): P({1,2}) = 2/11, P({1,3}) = 3/11, P({2,3}) = 6/11, so
    pi = (5/11, 8/11, 9/11). Solving the odds from pi gives back w up to scale, and the
    probability that a token misses expert 1 is P({2,3}) = 6/11."""
    r = law.solve([5 / 11, 8 / 11, 9 / 11])
    assert r.w / r.w[0] == pytest.approx([1, 2, 3], rel=1e-9)
    assert r.avoid([[0.0, 1.0, 1.0]])[0] == pytest.approx(6 / 11)
    assert r.avoid([[0.5, 1.0, 1.0]])[0] == pytest.approx(6 / 11 + 0.5 * 5 / 11)


def test_distinct_and_effective_by_hand():
    """pi = (1, 0.5, 0.5), k = 2: two tokens touch 1 + 2 (1 - 0.5^2) = 2.5 experts;
    shares (1/2, 1/4, 1/4): entropy 1.5 ln 2, effective experts 2^1.5."""
    assert law.distinct_experts([1, .5, .5], 2) == pytest.approx(2.5)
    assert law.effective_experts([1, .5, .5]) == pytest.approx(2 ** 1.5)


def test_overflow_by_hand():
    """E=2, k=1, pi = (1/2, 1/2), B = 2, C = 1: capacity floor(1 x 2 x 1 / 2) = 1 per expert.
    X ~ Bin(2, 1/2): (X - 1)^+ is 1 with probability 1/4, so each expert overflows 1/4 and
    the batch 1/2 an assignment in expectation."""
    assert capacity.overflow_tokens([.5, .5], 2, 1.0) == pytest.approx(0.5)


def test_capped_loads_by_hand():
    """pi = (0.6, 0.2, 0.1, 0.1), k = 1, C = 2: capacity 2 x 1/4 = 0.5. Drop: 0.1 of 1 is
    dropped. Reroute: the 0.1 goes to the others in proportion to their pi (0.2:0.1:0.1)."""
    loads, dropped, rerouted = capacity.capped_loads([.6, .2, .1, .1], 2.0, "drop")
    assert loads == pytest.approx([.5, .2, .1, .1]) and dropped == pytest.approx(.1) and rerouted == 0
    loads, dropped, rerouted = capacity.capped_loads([.6, .2, .1, .1], 2.0, "reroute")
    assert loads == pytest.approx([.5, .25, .125, .125]) and rerouted == pytest.approx(.1) and dropped == 0


def test_balanced_placement_by_hand():
    """Loads (0.5, 0.2, 0.2, 0.1) over EP2 with 2 redundant slots: the replicas go to expert 0
    (0.5 -> 0.25 per copy) and then expert 0 again? No: after one replica expert 0 carries 0.25
    per copy, less than 0.2? No, more, so it gets the second (0.167 per copy). Slots
    (.167 x 3, .2, .2, .1) packed heaviest first onto the lighter rank, 3 slots each:
    rank loads 0.2 + 0.167 + 0.1 = 0.467 and 0.2 + 0.167 + 0.167 = 0.533."""
    pl = placement.balanced_placement([.5, .2, .2, .1], 2, 2)
    assert pl.copies.tolist() == [3, 1, 1, 1]
    loads = sorted(pl.rank_load(pl.shares([.5, .2, .2, .1])))
    assert loads == pytest.approx([0.2 + 0.5 / 3 + 0.1, 0.2 + 2 * 0.5 / 3])


# ---- the uniform router is the closed form of engine.alltoall and engine.layout --------------
@pytest.mark.parametrize("E, k, ep, nodes", [(256, 8, 8, 1), (256, 8, 64, 8), (64, 4, 16, 2), (8, 2, 8, 4)])
def test_uniform_router_equals_uniform_closed_forms(E, k, ep, nodes):
    r = law.solve(np.full(E, k / E))
    f = terms.rank_factors(r, ep, nodes, 0)
    ranks, remote_nodes, up = destinations(E, k, ep, nodes, np.inf)
    assert (f.remote_ranks, f.remote_nodes, f.scaleup_transfers) == pytest.approx((ranks, remote_nodes, up))
    assert f.scaleup_peak == pytest.approx(up)
    assert f.imbalance == pytest.approx(float(expert_imbalance(E, 0, ep)))
    B = np.array([1, 16, 64, 1024])
    assert extremes.touched_on_fullest(r, f.placement, B) == pytest.approx(experts_touched_fraction(E, k, B))
    assert law.effective_experts(r.pi) == pytest.approx(E)


# ---- closed forms against the Monte Carlo (10^5 tokens) ----------------------------------------
@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
def test_sampler_has_the_marginals_and_exactly_k(draws, name):
    r, S = draws[name]
    assert (S.sum(axis=1) == 4).all()
    sigma = np.sqrt(r.pi * (1 - r.pi) / SAMPLES)
    assert np.all(np.abs(S.mean(axis=0) - r.pi) <= 5 * sigma + 1e-12)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("B", [8, 64])
def test_distinct_experts_closed_form_vs_monte_carlo(draws, name, B):
    r, S = draws[name]
    batches = S[: SAMPLES // B * B].reshape(-1, B, S.shape[1])
    measured = batches.any(axis=1).sum(axis=1).mean()
    assert measured == pytest.approx(float(law.distinct_experts(r.pi, B)), rel=0.01)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
def test_effective_experts_closed_form_vs_monte_carlo(draws, name):
    r, S = draws[name]
    assert law.effective_experts(S.sum(axis=0)) == pytest.approx(law.effective_experts(r.pi), rel=0.01)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("ep, nodes", [(8, 1), (16, 4)])
def test_destinations_closed_form_vs_monte_carlo(draws, name, ep, nodes):
    """Ranks and nodes a token reaches (contiguous placement): P(hit) per rank and node, the
    mean remote count from a uniformly placed source, and the hottest receiver."""
    r, S = draws[name]
    f = terms.rank_factors(r, ep, nodes, 0)
    rank_of = f.placement.rank
    hit_rank = np.stack([S[:, rank_of == q].any(axis=1) for q in range(ep)], axis=1)
    node_of = np.arange(ep) * nodes // ep
    hit_node = np.stack([hit_rank[:, node_of == n].any(axis=1) for n in range(nodes)], axis=1)
    assert hit_rank.mean(axis=0).max() == pytest.approx(f.q_rank.max(), rel=0.01)
    assert (ep - 1) / ep * hit_rank.sum(axis=1).mean() == pytest.approx(f.remote_ranks, rel=0.01)
    if nodes > 1:
        assert (nodes - 1) / nodes * hit_node.sum(axis=1).mean() == pytest.approx(f.remote_nodes, rel=0.01)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
def test_straggler_large_batch_closed_form_vs_monte_carlo(draws, name):
    """One batch of 10^5 tokens: the hottest rank's load over the mean approaches EP max L_r."""
    r, S = draws[name]
    f = terms.rank_factors(r, 8, 1, 0)
    tokens = f.placement.rank_load(S.sum(axis=0).astype(float))
    assert tokens.max() / tokens.mean() == pytest.approx(f.straggler, rel=0.01)


@pytest.mark.parametrize("name, C", [("uniform", 1.0), ("zipf", 1.25), ("dirichlet", 1.5)])
def test_overflow_closed_form_vs_monte_carlo(draws, name, C):
    """Batches of 256 tokens at capacity floor(C x 256 x k / E): mean assignments over capacity."""
    r, S = draws[name]
    B = 256
    counts = S[: SAMPLES // B * B].reshape(-1, B, S.shape[1]).sum(axis=1)
    cap = np.floor(C * B * 4 / 64)
    measured = np.clip(counts - cap, 0, None).sum(axis=1).mean()
    assert measured == pytest.approx(capacity.overflow_tokens(r.pi, B, C), rel=0.01)


# ---- limits ---------------------------------------------------------------------------------
def test_uniform_router_straggler_near_one_for_large_batches():
    rng = np.random.default_rng(7)
    r = law.solve(np.full(256, 8 / 256))
    counts = law.sample_sets(r, SAMPLES, rng).sum(axis=0)
    pl = placement.contiguous_placement(256, 8)
    tokens = pl.rank_load(counts.astype(float))
    assert 1 <= tokens.max() / tokens.mean() < 1.01
    small = law.sample_sets(r, 16, rng).sum(axis=0)     # a decode-sized batch is far from even
    assert pl.rank_load(small.astype(float)).max() / (16 * 8 / 8) > 1.1


def test_full_collapse_is_the_load_of_one_expert():
    """zipf:100 sends every token to the same k experts: each carries every token; k experts
    are touched at any batch; effective experts = k; with EP = E every token's hottest rank
    carries 1/k of all assignments, i.e. EP/k times an even share."""
    E, k = 64, 4
    r = router_for(Routing("zipf", value=100.0), E, k, "test")
    assert np.sort(r.pi)[-k:] == pytest.approx(np.ones(k), abs=1e-6)
    S = law.sample_sets(r, 1000, np.random.default_rng(0))
    assert S.sum(axis=0).max() == 1000
    assert law.distinct_experts(r.pi, 1000) == pytest.approx(k, rel=1e-4)
    assert law.effective_experts(r.pi) == pytest.approx(k, rel=1e-6)
    assert terms.rank_factors(r, E, 1, 0).imbalance == pytest.approx(E / k, rel=1e-6)


def test_redundant_experts_recover_the_straggler():
    """EPLB on a Zipf 0.8 router over EP8: 32 replicas bring the hottest rank to within 2% of
    even from well above it."""
    r = router_for(Routing("zipf", value=0.8), 256, 8, "test")
    before = terms.rank_factors(r, 8, 1, 0).imbalance
    after = terms.rank_factors(r, 8, 1, 32).imbalance
    assert before > 1.3 and after < 1.02


# ---- identities -----------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.01, 100.0), min_size=8, max_size=40), st.integers(1, 4),
       st.sampled_from([1, 2, 4, 8]), st.integers(0, 8), st.integers(1, 512))
def test_routing_identities(weights, k, ep, redundant, batch):
    pi = law.inclusion_from_weights(np.array(weights), k)
    assert pi.sum() == pytest.approx(k) and pi.max() <= 1 + 1e-12
    r = law.solve(pi)
    f = terms.rank_factors(r, ep, 1, redundant)
    assert f.rank_share.sum() == pytest.approx(1.0)
    assert f.imbalance >= 1 - 1e-9
    touched = extremes.touched_on_fullest(r, f.placement, batch)
    assert 0 < touched <= 1 + 1e-12
    assert law.distinct_experts(pi, batch) <= min(len(pi), batch * k) + 1e-9
    assert k - 1e-9 <= law.effective_experts(pi) <= len(pi) + 1e-9


# ---- in a deployment ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def v3():
    return load("deepseek-v3")


def _run(v3, routing=None, **dep):
    """DeepSeek-V3 at batch 64 on H200s, on the roofline (the routing's own effects, no fit)."""
    spec, label = v3
    return estimate(spec, Workload(batch=64), Assumptions.for_profile("bound"), label=label,
                    deployment=Deployment(gpu="h200", **{"ep": EP_ALL, **dep}), routing=routing)


def test_uniform_routing_changes_nothing(v3):
    plain, uniform = _run(v3), _run(v3, Routing())
    assert plain["perf"] == uniform["perf"] and plain["comm"] == uniform["comm"]
    assert uniform["routing"]["model"] == "uniform" and uniform["routing"]["effective_experts"] == pytest.approx(256)


def test_skew_slows_compute_and_reads_fewer_experts(v3):
    """Zipf 1.2 on 8 x H200: the hottest rank carries 2.2x an even share of the routed work, so
    prefill (compute-bound) slows; a decode step of 64 touches fewer experts on the fullest GPU,
    so its memory time falls."""
    uniform, skew = _run(v3), _run(v3, parse_routing("zipf:1.2"))
    assert skew["perf"]["expert_imbalance"] == pytest.approx(skew["routing"]["straggler"]) and \
        skew["routing"]["straggler"] > 2
    assert skew["perf"]["prefill"]["compute_seconds"] > 1.5 * uniform["perf"]["prefill"]["compute_seconds"]
    # compute time is (dense + attention) + routed x imbalance: a capped run lies on the same line
    capped = _run(v3, parse_routing("zipf:1.2", capacity_factor=2.0))
    t = [x["perf"]["prefill"]["compute_seconds"] for x in (uniform, skew, capped)]
    imb = [x["perf"]["prefill"]["expert_imbalance"] for x in (uniform, skew, capped)]
    assert (t[2] - t[0]) / (t[1] - t[0]) == pytest.approx((imb[2] - imb[0]) / (imb[1] - imb[0]), rel=1e-9)
    assert skew["perf"]["decode"]["experts_touched_fraction"] < uniform["perf"]["decode"]["experts_touched_fraction"]
    assert skew["perf"]["decode"]["memory_seconds"] < uniform["perf"]["decode"]["memory_seconds"]
    assert skew["comm"]["a2a_bytes_per_token_layer"] < uniform["comm"]["a2a_bytes_per_token_layer"]
    assert skew["routing"]["a2a_peak_scaleup_transfers"] > uniform["routing"]["a2a_peak_scaleup_transfers"]


def test_capacity_drop_reported_and_caps_the_straggler(v3):
    rt = parse_routing("zipf:1.2", capacity_factor=1.25)
    r = _run(v3, rt)
    pi = inclusion(rt, 256, 8, "test")
    _, dropped, _ = capacity.capped_loads(pi, 1.25, "drop")
    assert r["routing"]["dropped_share"] == pytest.approx(dropped) and dropped > 0.3
    assert r["perf"]["expert_imbalance"] < _run(v3, parse_routing("zipf:1.2"))["perf"]["expert_imbalance"]


def test_sweep_rows_equal_estimates_under_skew(v3):
    """Every feasible row of a small sweep with --routing equals its own estimate."""
    from moecalc.hardware import load_catalog
    from moecalc.sweep import Space, run_sweep

    spec, label = v3
    rt = parse_routing("dirichlet:0.3", seed=3)
    space = Space(gpu=("h200", "h100"), gpus=(8, 16), tp=(1, 8), batch=(16, 128), routing=rt)
    rows = []
    result = run_sweep(spec, space, load_catalog(), on_rows=rows.append, label=label)
    assert result.summary["feasible"] > 4
    checked = 0
    for block in rows:
        for i in range(len(block["gpu"])):
            d = Deployment(gpu=block["gpu"][i], gpus=int(block["gpus"][i]), tp=int(block["tp"][i]),
                           ep=int(block["ep"][i]), dp=int(block["dp"][i]), pp=int(block["pp"][i]))
            e = estimate(spec, Workload(batch=int(block["batch"][i]), context=int(block["context"][i])), label=label,
                         deployment=d, routing=rt)
            assert e["perf"]["tpot_seconds"] == pytest.approx(float(block["tpot_seconds"][i]), rel=1e-12)
            checked += 1
    assert checked == result.summary["feasible"]
    assert "--routing dirichlet:0.3 --seed 3" in result.top_command


# ---- a finite batch: the hottest rank of the step's own tokens --------------------------------
def test_rank_count_law_by_hand():
    """E=4, k=2 uniform over EP2 (experts {0,1} and {2,3}): a token puts 0 assignments on rank 0
    when it picks {2,3} (1 of 6 pairs), 2 when it picks {0,1} (1 of 6), else 1."""
    r = law.solve(np.full(4, 0.5))
    pmf = extremes.rank_count_pmf(r, placement.contiguous_placement(4, 2))
    assert pmf == pytest.approx(np.array([[1, 4, 1], [1, 4, 1]]) / 6)


def _rank_counts(S, pl, rng):
    """Assignments per rank for each token of S, a replicated expert's going to a random copy."""
    counts = np.zeros((S.shape[0], pl.ep))
    single = np.zeros((S.shape[1], pl.ep))          # expert -> its rank, for experts with one slot
    for i in range(S.shape[1]):
        slots = np.nonzero(pl.expert == i)[0]
        if len(slots) == 1:
            single[i, pl.rank[slots[0]]] = 1
            continue
        pick = slots[rng.integers(0, len(slots), S.shape[0])]
        np.add.at(counts, (np.arange(S.shape[0]), pl.rank[pick]), S[:, i])
    return counts + S.astype(float) @ single


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("redundant", [0, 8])
def test_rank_count_law_vs_monte_carlo(draws, name, redundant):
    r, S = draws[name]
    pl = placement.place(r.pi, 8, redundant)
    pmf = extremes.rank_count_pmf(r, pl)
    assert pmf.sum(axis=1) == pytest.approx(np.ones(8))
    counts = _rank_counts(S, pl, np.random.default_rng(5))
    for q in range(8):
        seen = np.bincount(counts[:, q].astype(int), minlength=pmf.shape[1]) / SAMPLES
        sigma = np.sqrt(pmf[q] * (1 - pmf[q]) / SAMPLES)
        assert np.all(np.abs(seen - pmf[q]) <= 5 * sigma + 1e-9)


def test_windowed_law_equals_the_full_convolution():
    """The windowed FFT (14 sd around the mean) gives the full B-fold convolution's E[max]."""
    r = router_for(Routing("zipf", value=0.6), 64, 4, "test")
    pmf = extremes.rank_count_pmf(r, placement.contiguous_placement(64, 4))
    for B in (300, 700):
        laws = []
        for row in pmf:
            p = np.fft.irfft(np.fft.rfft(row, 4096) ** B, 4096)[: B * 4 + 1]
            laws.append(np.cumsum(np.clip(p, 0, None)))
        F = np.prod(np.clip(np.array(laws), 0, 1), axis=0)
        brute = (1 - F[:-1]).sum()
        assert float(extremes.expected_max_load(pmf, B)) == pytest.approx(brute, rel=1e-9)
        alike = float(extremes.expected_max_load(np.repeat(pmf[:1], 4, axis=0), B))     # one law, vectorized path
        F1 = np.cumsum(np.clip(np.fft.irfft(np.fft.rfft(pmf[0], 4096) ** B, 4096)[: B * 4 + 1], 0, None))
        assert alike == pytest.approx((1 - np.clip(F1[:-1], 0, 1) ** 4).sum(), rel=1e-9)


TOLERANCE = {1: 0.08, 8: 0.04, 64: 0.015, 512: 0.01}     # measured: -6.6%, -3.6%, -1.4%, -0.6% at worst


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("ep", [8, 32])
@pytest.mark.parametrize("B", [1, 8, 64, 512])
def test_expected_max_load_vs_monte_carlo(draws, name, ep, B):
    """The hottest rank of a batch: the closed form (ranks independent) against batches cut
    from 10^5 routed tokens; it may only understate (ranks are negatively correlated)."""
    r, S = draws[name]
    pl = placement.contiguous_placement(64, ep)
    counts = _rank_counts(S[: SAMPLES // B * B], pl, np.random.default_rng(1)).reshape(-1, B, ep).sum(axis=1)
    measured = counts.max(axis=1).mean()
    closed = float(extremes.expected_max_load(extremes.rank_count_pmf(r, pl), B))
    assert closed == pytest.approx(measured, rel=TOLERANCE[B])
    assert closed <= measured * 1.01


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("ep", [8, 32])
@pytest.mark.parametrize("B", [1, 8, 64])
def test_expected_max_touched_vs_monte_carlo(draws, name, ep, B):
    r, S = draws[name]
    pl = placement.contiguous_placement(64, ep)
    hit = S[: SAMPLES // B * B].reshape(-1, B, 64).any(axis=1)
    touched = np.stack([hit[:, pl.rank == q].sum(axis=1) for q in range(ep)], axis=1)
    measured = touched.max(axis=1).mean()
    assert float(extremes.expected_max_touched(r, pl, B)) == pytest.approx(measured, rel=0.015)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
def test_finite_batch_straggler_tends_to_the_large_batch_limit(draws, name):
    """At 10^6 tokens the expected hottest rank is the rank with the highest expected load
    (within 1%); for a uniform router that is 1: straggler near 1 for large batches."""
    r, _ = draws[name]
    pl = placement.contiguous_placement(64, 8)
    f = terms.rank_factors(r, 8, 1, 0)
    big = 8 * float(extremes.expected_max_load(extremes.rank_count_pmf(r, pl), 10 ** 6)) / (10 ** 6 * 4)
    assert big == pytest.approx(f.imbalance, rel=0.01)
    if name == "uniform":
        assert 1 <= big < 1.01


def test_normal_stand_in_is_continuous_with_the_exact_law():
    """A mildly skewed router on EP64 (many distinct ranks) switches to normal laws past
    B k = NORMAL_FROM: either side of the switch agrees within 0.3%."""
    r = router_for(Routing("zipf", value=0.3), 256, 8, "test")
    pmf = extremes.rank_count_pmf(r, placement.contiguous_placement(256, 64))
    B = extremes.NORMAL_FROM // 8
    below, above = (float(extremes.expected_max_load(pmf, b)) / b for b in (B, B + 1))
    assert above == pytest.approx(below, rel=0.003)


def test_decode_at_batch_one_reads_the_hottest_gpus_experts(v3):
    """DeepSeek-V3 at batch 1 on 8 x H200: the token's 8 experts land on 8 of the 256 at random,
    so the slowest GPU reads E[max_r touched_r] = 2.564 of its 32 experts (exact for one token),
    not the mean 1 (the expected-load model's 8/256 = 3.1%); the assumption off gives the
    expected-load numbers.
    (Without V3's group limit, which concentrates a token further: see the group tests.)"""
    spec, label = v3
    d, free = Deployment(gpu="h200", ep=EP_ALL), Routing(groups=(0, 0))
    bound = Assumptions.for_profile("bound")
    on = estimate(spec, Workload(batch=1), bound, label=label, deployment=d, routing=free)
    off = estimate(spec, Workload(batch=1), Assumptions.for_profile("bound", load_fluctuation=False), label=label,
                   deployment=d, routing=free)
    assert on["perf"]["decode"]["experts_touched_fraction"] == pytest.approx(2.5637 / 32, rel=1e-4)
    assert off["perf"]["decode"]["experts_touched_fraction"] == pytest.approx(8 / 256)
    assert on["perf"]["tpot_seconds"] > 1.3 * off["perf"]["tpot_seconds"]
    assert on["perf"]["expert_imbalance"] == pytest.approx(2.5637, rel=1e-4)
    assert on["perf"]["prefill"]["expert_imbalance"] < 1.05


# ---- group-limited routing: a uniform router that picks M of G groups first ---------------------
def test_group_rank_count_law_by_hand():
    """E=4, k=2, G=2 groups of 2, M=1, EP2 (a rank per group): the token takes both experts of
    one group, so each rank gets 0 or 2 assignments, each with probability 1/2. EP4 (a rank
    per expert): its group is chosen w.p. 1/2 and then it is picked: 0 or 1, 1/2 each."""
    pmf = groups.group_rank_count_pmf(2, 2, 1, placement.contiguous_placement(4, 2))
    assert pmf == pytest.approx(np.array([[0.5, 0, 0.5], [0.5, 0, 0.5]]))
    pmf = groups.group_rank_count_pmf(2, 2, 1, placement.contiguous_placement(4, 4))
    assert pmf == pytest.approx(np.tile([0.5, 0.5, 0.0], (4, 1)))


@pytest.fixture(scope="module")
def grouped_draws():
    """10^5 tokens of DeepSeek-V3's router shape: 256 experts, top 8, 4 of 8 groups."""
    rng = np.random.default_rng(99)
    E, k, G, M, T = 256, 8, 8, 4, SAMPLES
    g = E // G
    chosen = np.argsort(rng.random((T, G)), axis=1)[:, :M]
    pool = (chosen[:, :, None] * g + np.arange(g)).reshape(T, -1)
    experts = np.take_along_axis(pool, np.argsort(rng.random((T, M * g)), axis=1)[:, :k], axis=1)
    S = np.zeros((T, E), bool)
    np.put_along_axis(S, experts, True, axis=1)
    return S


@pytest.mark.parametrize("ep", [4, 8, 16, 64])
def test_group_rank_count_law_vs_monte_carlo(grouped_draws, ep):
    pl = placement.contiguous_placement(256, ep)
    pmf = groups.group_rank_count_pmf(8, 8, 4, pl)
    for q in range(min(ep, 4)):
        seen = np.bincount(grouped_draws[:, pl.rank == q].sum(axis=1), minlength=9) / SAMPLES
        assert np.all(np.abs(seen - pmf[q]) <= 5 * np.sqrt(pmf[q] * (1 - pmf[q]) / SAMPLES) + 1e-9)


GROUP_TOLERANCE = {1: 0.11, 8: 0.05, 64: 0.02}      # measured: -9.3%, -4.1%, -1.6% at worst


@pytest.mark.parametrize("ep", [4, 8, 16, 64])
@pytest.mark.parametrize("B", [1, 8, 64])
def test_group_limited_hottest_rank_vs_monte_carlo(grouped_draws, ep, B):
    """Routed load and touched experts on the hottest rank, group-aware laws against batches cut
    from 10^5 routed tokens (ranks independent: it may only understate, by the tolerance)."""
    pl = placement.contiguous_placement(256, ep)
    assert pl.rank.tolist() == np.repeat(np.arange(ep), 256 // ep).tolist()    # rank q: a block of experts
    S = grouped_draws[: SAMPLES // B * B].reshape(-1, B, 256)
    counts = S.sum(axis=1, dtype=np.int32).reshape(-1, ep, 256 // ep)
    load = counts.sum(axis=2).max(axis=1).mean()
    touched = S.any(axis=1).reshape(-1, ep, 256 // ep).sum(axis=2).max(axis=1).mean()
    closed_load = float(extremes.expected_max_load(groups.group_rank_count_pmf(8, 8, 4, pl), B))
    closed_touched = float(groups.group_expected_max_touched(8, 8, 4, pl, B))
    for closed, measured in ((closed_load, load), (closed_touched, touched)):
        assert closed == pytest.approx(measured, rel=GROUP_TOLERANCE[B])
        assert closed <= measured * 1.01


def test_deepseek_group_limit_concentrates_a_decode_step(v3):
    """V3's 4-of-8 group limit on EP8 (a group per GPU): one token reaches 4 GPUs, so the slowest
    reads 3.486 of its 32 experts per layer (2.564 without the limit, 1 on average; exact)."""
    spec, label = v3
    d = Deployment(gpu="h200", ep=EP_ALL)
    grouped = estimate(spec, Workload(batch=1), label=label, deployment=d)
    free = estimate(spec, Workload(batch=1), label=label, deployment=d, routing=Routing(groups=(0, 0)))
    assert grouped["perf"]["decode"]["experts_touched_fraction"] * 32 == pytest.approx(3.4859, abs=1e-3)
    assert free["perf"]["decode"]["experts_touched_fraction"] * 32 == pytest.approx(2.5637, abs=1e-3)
    assert grouped["perf"]["tpot_seconds"] > free["perf"]["tpot_seconds"]


def test_single_token_maximum_by_hand():
    """E=4, k=2 uniform over EP2: the pair is {0,1} or {2,3} w.p. 1/3 (max 2), else split (max 1):
    E[max] = 2/3 + 4/6 = 4/3. With 2 groups of 2 and M=1 (a rank per group) every token takes
    both experts of one rank: max 2."""
    r = law.solve(np.full(4, 0.5))
    pl = placement.contiguous_placement(4, 2)
    assert extremes.single_token_expected_max(r, pl) == pytest.approx(4 / 3)
    assert groups.single_token_expected_max(r.top_k, 2, 1, pl) == pytest.approx(2.0)
    assert extremes.single_token_expected_max(r, placement.place(r.pi, 2, 2)) is None       # replicas: no exact form here


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("ep", [8, 32])
def test_single_token_maximum_vs_monte_carlo(draws, name, ep):
    r, S = draws[name]
    pl = placement.contiguous_placement(64, ep)
    measured = np.stack([S[:, pl.rank == q].sum(axis=1) for q in range(ep)], axis=1).max(axis=1).mean()
    assert extremes.single_token_expected_max(r, pl) == pytest.approx(measured, rel=0.01)


@pytest.mark.parametrize("ep", [4, 8, 16, 64])
def test_single_token_maximum_under_groups_vs_monte_carlo(grouped_draws, ep):
    pl = placement.contiguous_placement(256, ep)
    measured = np.stack([grouped_draws[:, pl.rank == q].sum(axis=1) for q in range(ep)], axis=1).max(axis=1).mean()
    r = law.solve(np.full(256, 8 / 256))
    assert groups.single_token_expected_max(r.top_k, 8, 4, pl) == pytest.approx(measured, rel=0.01)


@pytest.mark.parametrize("name", ["uniform", "zipf", "dirichlet"])
@pytest.mark.parametrize("B", [16, 256])
def test_hottest_expert_of_a_batch_vs_monte_carlo(draws, name, B):
    """E[max_i X_i], X_i ~ Binomial(B, pi_i) taken independently (``expected_max_load`` on
    per-expert Bernoulli laws): the hottest expert of a batch, within 2% of the Monte Carlo."""
    r, S = draws[name]
    counts = S[: SAMPLES // B * B].reshape(-1, B, 64).sum(axis=1)
    closed = float(extremes.expected_max_load(np.stack([1 - r.pi, r.pi], axis=1), B))
    assert closed == pytest.approx(counts.max(axis=1).mean(), rel=0.02)


def test_batch_terms_do_not_depend_on_the_batches_solved_beside_them():
    """A batch's hottest-rank load and touched law are what a call with that batch alone gives,
    whatever other batches (their order, their number, blocks of a sweep, a warm cache) are
    solved with it: the spectra's powers are anchored at multiples of the chain length, the
    touched chain walks from anchors at multiples of 64, and each load sums over its own window.
    Before, running products over the batches beside it moved values by up to 1.6e-11."""
    rng = np.random.default_rng(5)
    batches = np.array([1, 2, 5, 63, 64, 65, 127, 128, 129, 300, 1000, 4096], dtype=float)
    for k, ranks in ((6, 8), (8, 64), (8, 256)):
        pmf = rng.dirichlet(np.ones(k + 1))
        together = extremes._expected_max_alike(pmf, ranks, batches)
        alone = [extremes._expected_max_alike(pmf, ranks, np.array([b]))[0] for b in batches]
        assert together.tolist() == alone
        assert extremes._expected_max_alike(pmf, ranks, batches[::-1]).tolist() == together[::-1].tolist()
        # and the anchored powers agree with plain powers
        plain = extremes._expected_max_alike(pmf, ranks, batches, chain=1)
        assert np.allclose(together, plain, rtol=1e-11, atol=0)
    for a in (1, 8, 32):
        pick = np.zeros(9)
        pick[: min(a, 8) + 1] = rng.dirichlet(np.ones(min(a, 8) + 1))
        together = groups._touched_chain(pick, a, batches)
        assert all(np.array_equal(together[i], groups._touched_chain(pick, a, batches[i:i + 1])[0])
                   for i in range(len(batches)))
        assert np.allclose(together.sum(axis=1), 1.0, rtol=1e-12)
