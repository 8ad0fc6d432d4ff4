"""Expert-parallel all-to-all: the closed form by hand, against a Monte Carlo of random
routings, and against a published back-of-envelope (DeepSeek, ISCA 2025)."""

from __future__ import annotations

import textwrap
from math import comb

import numpy as np
import pytest

from conftest import merge
from moecalc.assumptions import Assumptions
from moecalc.deployment import Deployment
from moecalc.engine.alltoall import (alltoall_seconds, allreduce_seconds, destinations, group_miss_probability,
                                     miss_probability)
from moecalc.engine.layout import experts_touched_fraction
from moecalc.engine.records import Link
from moecalc.estimate import Workload, estimate
from moecalc.hardware import load_catalog
from moecalc.spec.load import bundled_specs, validate_spec
from moecalc.spec.yaml_io import parse_yaml


def test_miss_probability_by_hand():
    """4 experts, 2 held by a rank, top-2: P(miss) = C(2,2)/C(4,2) = 1/6."""
    assert miss_probability(4, 2, 2) == pytest.approx(1 / 6)
    assert miss_probability(256, 32, 8) == pytest.approx(comb(224, 8) / comb(256, 8))


def test_destinations_by_hand_single_node():
    """E=4, k=2 over EP2 in one node: each rank holds 2 experts and is hit w.p. 1 - 1/6 = 5/6.
    Remote ranks = (2 - 1) 5/6; no remote node; every remote rank is one scale-up transfer."""
    ranks, nodes, transfers = destinations(4, 2, 2, 1, np.inf)
    assert (ranks, nodes, transfers) == pytest.approx((5 / 6, 0, 5 / 6))


def test_destinations_by_hand_two_nodes():
    """E=4, k=2, EP4 over 2 nodes (1 expert per rank, 2 per node), no node limit:
    q_rank = 1 - C(3,2)/C(4,2) = 1/2, q_node = 1 - C(2,2)/C(4,2) = 5/6.
    remote ranks = 3 x 1/2 = 1.5; remote nodes = 1 x 5/6; scale-up transfers = (4 - 2) x 1/2 = 1."""
    ranks, nodes, transfers = destinations(4, 2, 4, 2, np.inf)
    assert (ranks, nodes, transfers) == pytest.approx((1.5, 5 / 6, 1.0))


def test_group_limited_destinations_by_hand():
    """E=4, k=2 in G=2 groups of 2, M=1: a token takes both experts of one group. EP2 (a rank
    per group): each rank is hit w.p. 1/2, so 0.5 remote ranks (uniform: 1 - C(2,2)/C(4,2) =
    5/6). EP4 over 2 nodes (a node per group): each expert is still hit w.p. 1/2 (1.5 remote
    ranks, as uniform), but the token reaches 0.5 remote nodes, not 5/6."""
    assert destinations(4, 2, 2, 1, np.inf, 2, 1)[0] == pytest.approx(0.5)
    ranks, nodes, _ = destinations(4, 2, 4, 2, np.inf, 2, 1)
    assert (ranks, nodes) == pytest.approx((1.5, 0.5))
    assert group_miss_probability(4, 2, 2, 1, [1, 2, 4]) == pytest.approx([0.5, 0.5, 0.0])


def simulate_groups(E, k, G, M, ep, n, tokens=100_000, seed=0):
    """Route tokens DeepSeek's way: M of G contiguous groups uniformly, then k distinct experts
    uniformly among theirs; count distinct remote ranks and nodes from a uniformly placed source."""
    rng = np.random.default_rng(seed)
    g = E // G
    groups = np.argsort(rng.random((tokens, G)), axis=1)[:, :M]
    pool = (groups[:, :, None] * g + np.arange(g)).reshape(tokens, -1)
    experts = np.take_along_axis(pool, np.argsort(rng.random((tokens, M * g)), axis=1)[:, :k], axis=1)
    rank_hit = np.zeros((tokens, ep), bool)
    np.put_along_axis(rank_hit, experts // (E // ep), True, axis=1)
    node_hit = rank_hit.reshape(tokens, n, ep // n).any(axis=2)
    src = rng.integers(0, ep, tokens)
    rows = np.arange(tokens)
    return ((rank_hit.sum(1) - rank_hit[rows, src]).mean(),
            (node_hit.sum(1) - node_hit[rows, src // (ep // n)]).mean())


@pytest.mark.parametrize("ep, n", [(8, 1), (4, 1), (16, 2), (64, 8), (32, 4), (256, 32)])
def test_group_limited_closed_form_matches_monte_carlo(ep, n):
    """DeepSeek-V3's router (8 groups, 4 per token) over ranks inside groups, ranks holding
    several groups, and nodes holding one or several: within 1% of 10^5 routed tokens."""
    ranks, nodes, _ = destinations(256, 8, ep, n, np.inf, 8, 4)
    sim_ranks, sim_nodes = simulate_groups(256, 8, 8, 4, ep, n)
    assert sim_ranks == pytest.approx(ranks, rel=0.01)
    assert sim_nodes == pytest.approx(nodes, rel=0.01, abs=1e-12)


def test_group_limit_cuts_deepseek_v3_traffic_on_one_node():
    """On EP8 each GPU holds one of V3's 8 groups, so a token reaches at most 4 GPUs: 3.18
    remote GPUs per token, not the 4.63 of an unlimited router."""
    spec, _ = bundled_v3()
    r = estimate(spec, Workload(batch=64), Assumptions(), "t", Deployment(gpu="h200", gpus=8, tp=8, ep=8))
    assert r["comm"]["remote_ranks_per_token"] == pytest.approx(3.1754, abs=1e-4)
    assert r["comm"]["routing_limit"] == "group-limited to 4 of 8 expert groups per token"
    assert destinations(256, 8, 8, 1, np.inf)[0] == pytest.approx(4.6328, abs=1e-4)


def bundled_v3():
    return validate_spec(parse_yaml(bundled_specs()["deepseek-v3"], "v3")[0], "v3"), "v3"


def test_one_node_limit_keeps_a_token_in_one_node():
    """M = 1: every token's experts sit in one node, so q_node = 1/n and remote nodes = (n-1)/n."""
    _, nodes, _ = destinations(256, 8, 64, 8, 1)
    assert nodes == pytest.approx(7 / 8)


def simulate(E, k, ep, n, max_nodes, tokens=60_000, seed=0):
    """Route ``tokens`` tokens at random and count what the closed form predicts.

    Each token lives on a uniformly random rank; it picks min(M, n) nodes uniformly, then k
    distinct experts uniformly among those nodes' experts (experts laid out contiguously:
    rank = expert // (E/ep), node = rank // (ep/n)). Counted per token: distinct remote ranks,
    distinct remote nodes, and scale-up transfers (ranks hit in the home node other than the
    source, plus ranks hit in remote nodes other than the landing rank, which has the
    source's local index).
    """
    rng = np.random.default_rng(seed)
    per_rank, per_node = E // ep, ep // n
    m = min(max_nodes, n)
    src = rng.integers(0, ep, tokens)
    # choose m nodes per token: the m smallest of n random keys
    node_keys = rng.random((tokens, n))
    chosen_nodes = np.argsort(node_keys, axis=1)[:, :m]
    allowed = np.zeros((tokens, n), bool)
    np.put_along_axis(allowed, chosen_nodes, True, axis=1)
    expert_node = np.arange(E) // (E // n)
    keys = np.where(allowed[:, expert_node], rng.random((tokens, E)), 2.0)
    experts = np.argpartition(keys, k - 1, axis=1)[:, :k]
    rank_hit = np.zeros((tokens, ep), bool)
    np.put_along_axis(rank_hit, experts // per_rank, True, axis=1)
    node_hit = rank_hit.reshape(tokens, n, per_node).any(axis=2)
    home = src // per_node
    rows = np.arange(tokens)
    remote_ranks = rank_hit.sum(1) - rank_hit[rows, src]
    remote_nodes = node_hit.sum(1) - node_hit[rows, home]
    local_index = src % per_node
    landing_hit = rank_hit.reshape(tokens, n, per_node)[rows, :, local_index]   # (tokens, n)
    landing_remote = landing_hit.sum(1) - landing_hit[rows, home]
    transfers = remote_ranks - landing_remote
    return remote_ranks.mean(), remote_nodes.mean(), transfers.mean()


CASES = [  # E, k, ep, nodes, max nodes per token
    (256, 8, 8, 1, np.inf),        # DeepSeek-V3 on one HGX node
    (256, 8, 64, 8, np.inf),       # EP64 over 8 nodes, no node limit
    (256, 8, 64, 8, 4),            # ... with DeepSeek-V3's limit of 4 nodes per token
    (256, 8, 32, 4, 2),
    (128, 8, 32, 4, np.inf),       # Qwen3-MoE-like
    (8, 2, 4, 2, np.inf),          # Mixtral-like
    (64, 6, 16, 2, 1),             # DeepSeek-V2-Lite-like, one node per token
]


@pytest.mark.parametrize("E,k,ep,n,M", CASES)
def test_closed_form_matches_monte_carlo(E, k, ep, n, M):
    expected = destinations(E, k, ep, n, M)
    simulated = simulate(E, k, ep, n, M)
    for got, want in zip(expected, simulated):
        assert got == pytest.approx(want, rel=0.01, abs=1e-3)


@pytest.mark.parametrize("E,k,T", [(256, 8, 1), (256, 8, 32), (8, 2, 3), (128, 8, 100)])
def test_experts_touched_matches_monte_carlo(E, k, T):
    """f = 1 - (1 - k/E)^T against T tokens routed at random, 3,000 batches."""
    rng = np.random.default_rng(1)
    batches = 3_000
    keys = rng.random((batches, T, E))
    picked = np.argpartition(keys, k - 1, axis=2)[:, :, :k]
    touched = np.zeros((batches, E), bool)
    for t in range(T):
        np.put_along_axis(touched, picked[:, t, :], True, axis=1)
    assert experts_touched_fraction(E, k, T) == pytest.approx(touched.mean(), rel=0.01)


def test_alltoall_and_allreduce_time_by_hand():
    """10 tokens x 2 transfers x 300 B at 1e9 B/s x 0.5 = 12 us, + 2 x 1 us latency = 14 us.
    Ring all-reduce of 8 MB over 4 GPUs at 100 GB/s x 1.0: 2 x 3/4 x 8e6 / 1e11 = 120 us + 5 us."""
    link = Link(1e9, 1e-6, 0.5)
    assert alltoall_seconds(10, 2, 300, link) == pytest.approx(14e-6)
    assert alltoall_seconds(10, 0, 300, link) == 0
    assert allreduce_seconds(8e6, 4, Link(1e11, 5e-6, 1.0)) == pytest.approx(125e-6)
    assert allreduce_seconds(8e6, 1, Link(1e11, 5e-6, 1.0)) == 0


# -- published back-of-envelope ------------------------------------------------------------
PAPER_HARDWARE = textwrap.dedent("""
    interconnects:
      paper-ib: {kind: scale-out, bandwidth_gbps: 50.0, latency_us: 0.0}
      paper-none: {kind: scale-up, bandwidth_gbps: 450.0, latency_us: 0.0}
      paper-nvl: {kind: scale-up, bandwidth_gbps: 900.0, latency_us: 0.0}
    accelerators:
      paper-h800-ib:
        name: H800 with one 400 Gb/s IB NIC, every GPU its own node
        memory_gb: 80.0
        hbm_tbps: 3.35
        dense_tflops: {bf16: 989.4, fp8: 1978.9}
        scale_up: paper-none
        scale_up_domain: 1
        scale_out: paper-ib
      paper-nvl:
        name: GPUs in one 900 GB/s NVLink domain
        memory_gb: 186.0
        hbm_tbps: 8.0
        dense_tflops: {bf16: 2500.0, fp8: 5000.0}
        scale_up: paper-nvl
        scale_up_domain: 256
""")


def _paper_run(tmp_path, gpu: str, gpus_per_node: int) -> dict:
    """The set-up of "Insights into DeepSeek-V3" (Zhao et al., ISCA 2025, arXiv:2505.09343),
    section 2.3.2 "Inference speed limits": every device holds one expert; each token goes to
    9 experts (8 routed + 1 shared) on 9 devices; 32 tokens per device in each of two
    overlapped micro-batches; fp8 dispatch (1 byte), bf16 combine (2 bytes), hidden "7K";
    comm time = (1 + 2) x 32 x 9 x 7K / bandwidth; TPOT = 61 layers x 2 micro-batches x comm.

    Modelled here as DeepSeek-V3 with the shared expert routed (top-9, no shared), all 61
    layers MoE and hidden 7000, on 256 devices (EP256, DP256), 64 sequences per device,
    ideal links (efficiency 1, latency 0), fp8 dispatch without scales, overlap on.
    """
    path = tmp_path / "paper.yaml"
    path.write_text(PAPER_HARDWARE)
    data, _ = parse_yaml(bundled_specs()["deepseek-v3"], "deepseek-v3")
    spec = validate_spec(merge(data, {"hidden_size": 7000, "stated": None,
                                      "moe": {"top_k": 9, "num_shared_experts": 0, "first_k_dense": 0}}),
                         "paper variant")
    a = Assumptions.for_profile("bound", dispatch_dtype="fp8-noscale", combine_dtype="bf16", scaleup_efficiency=1.0,
                                scaleout_efficiency=1.0, comm_overlap=1.0)
    d = Deployment(gpu=gpu, gpus=256, tp=1, dp=256, ep=256, gpus_per_node=gpus_per_node)
    return estimate(spec, Workload(batch=64 * 256, context=4096), a, "paper", d, load_catalog(str(path)))


def test_reproduces_deepseek_insights_ib_figure(tmp_path):
    """Paper: 120.96 us per micro-batch over 400 Gb/s IB, 14.76 ms TPOT, "67 tokens/s".

    moecalc counts the destinations exactly: a token's own device is one of the 256, so it
    reaches 255 x 9/256 = 8.965 remote devices, not 9; everything else is the paper's formula.
    """
    r = _paper_run(tmp_path, "paper-h800-ib", 1)
    per_layer = r["comm"]["a2a_seconds_per_layer"]
    assert r["comm"]["remote_ranks_per_token"] == pytest.approx(255 * 9 / 256)
    assert per_layer == pytest.approx(2 * 120.96e-6 * 255 / 256, rel=1e-9)
    assert per_layer == pytest.approx(2 * 120.96e-6, rel=0.005)
    assert r["perf"]["bound"] == "communication"
    assert r["perf"]["tpot_seconds"] == pytest.approx(14.76e-3, rel=0.005)
    assert 1 / r["perf"]["tpot_seconds"] == pytest.approx(1 / 14.76e-3, rel=0.005)   # "67 tokens/s" (67.75)


def test_reproduces_deepseek_insights_nvl72_figure(tmp_path):
    """Paper: with a 900 GB/s scale-up fabric, comm = 6.72 us per micro-batch, 0.82 ms TPOT,
    "1,200 tokens/s". moecalc's comm per step matches; its roofline adds that at this batch
    the step is memory-bound (the weights and 64 sequences' MLA cache per GPU take longer to
    read than the all-to-alls take to send), a limit the paper's comm-only bound leaves out."""
    r = _paper_run(tmp_path, "paper-nvl", 256)
    assert r["comm"]["a2a_seconds_per_layer"] == pytest.approx(2 * 6.72e-6 * 255 / 256, rel=1e-9)
    comm_step = r["comm"]["decode_seconds_per_step"]
    assert comm_step == pytest.approx(0.82e-3, rel=0.005)
    assert 1 / comm_step == pytest.approx(1200, rel=0.025)
    assert r["perf"]["bound"] == "memory"
