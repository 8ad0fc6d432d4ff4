"""Expert-parallel all-to-all: where a token's hidden vector goes, and what that costs.

Uniform routing: each token picks its k routed experts uniformly without replacement from
the E experts (the load-balanced router the MoE papers aim for). Experts are laid out
contiguously over ``ep`` ranks, the ranks over ``nodes`` scale-up domains. With node-limited
routing (DeepSeek-V3: at most M = 4 nodes per token) the token first picks M' = min(M, nodes)
nodes uniformly, then its k experts uniformly among the M'c experts of those nodes.

Traffic follows DeepEP's normal kernels: a token crosses the scale-out network once per distinct
remote node (to the GPU with its own local index there), which forwards it over the scale-up
fabric to the other GPUs of that node holding its experts; GPUs in the token's own node are
reached over the scale-up fabric directly. Source: DeepSeek-V3 report (arXiv:2412.19437)
section 3.2.2; deepseek-ai/DeepEP README.
"""

from __future__ import annotations

import functools

import numpy as np

from moecalc.engine.records import Link


def miss_probability(pool, held, top_k: int):
    """P(none of k draws without replacement from ``pool`` experts lands in ``held`` of them).

    C(pool - held, k) / C(pool, k) = prod_{i=0}^{k-1} (pool - held - i) / (pool - i)

    ``held`` may be fractional (the mean experts per rank when E does not divide evenly).
    """
    pool = np.asarray(pool, dtype=np.float64)
    held = np.asarray(held, dtype=np.float64)
    out = np.ones(np.broadcast_shapes(pool.shape, held.shape))
    # every factor at once along a last axis, multiplied in order (the product's rounding as written)
    i = np.arange(int(top_k), dtype=np.float64)
    factor = np.minimum(np.maximum((pool[..., None] - held[..., None] - i) / np.maximum(pool[..., None] - i, 1), 0.0), 1.0)
    for j in range(int(top_k)):
        out = out * factor[..., j]
    return out


def group_miss_probability(num_experts, top_k: int, groups: int, per_token: int, held):
    """P(a token misses a set of ``held`` experts) under group-limited routing, uniform otherwise.

    DeepSeek's router splits the E experts into G contiguous groups of g = E/G, picks M of them
    (uniformly, for a uniform router), then its k experts among their M g. A set within one
    group (held <= g, a rank inside a group):
      P(miss) = 1 - M/G + (M/G) C(M g - held, k) / C(M g, k)
    a set of s = held/g whole groups (a rank or node holding several), with j of them chosen
    (hypergeometric: C(s, j) C(G - s, M - j) / C(G, M)):
      P(miss) = sum_j P(j) C(M g - j g, k) / C(M g, k)
    Sets that straddle groups are taken as the nearest whole number of groups.
    """
    E = float(num_experts)
    g = E / groups
    pool = per_token * g
    held = np.asarray(held, dtype=np.float64)
    values, back = np.unique(held, return_inverse=True)     # a sweep repeats a few set sizes
    return _group_miss(g, pool, top_k, groups, per_token, values)[back.ravel()].reshape(held.shape)


def _group_miss(g, pool, top_k, groups, per_token, held):
    """``group_miss_probability`` on distinct set sizes (g experts per group, pool = M g)."""
    from math import comb

    inside = 1 - per_token / groups + per_token / groups * miss_probability(pool, np.minimum(held, g), top_k)
    s = np.clip(np.rint(held / g), 1, groups).astype(np.int64)
    whole = np.zeros(held.shape)
    for j in range(0, per_token + 1):       # C(s, j) and C(G - s, M - j), tabled over s = 0..G
        c_s = np.asarray([comb(n, j) for n in range(groups + 1)], dtype=np.float64)[s]
        c_rest = np.asarray([comb(groups - n, per_token - j) for n in range(groups + 1)], dtype=np.float64)[s]
        whole = whole + c_s * c_rest / comb(groups, per_token) * miss_probability(pool, j * g, top_k)
    return np.where(held < g, inside, whole)


def destinations(num_experts, top_k: int, ep, nodes, max_nodes, groups: int = 0, groups_per_token: int = 0):
    """Expected per-token destinations of one MoE layer's dispatch, uniform routing.

    With n = nodes, c = E/n experts per node, m = E/ep per rank, M' = min(M, n):
      q_node = (M'/n) (1 - C((M'-1)c, k)/C(M'c, k))     P(a given node is hit)
      q_rank = (M'/n) (1 - C(M'c - m, k)/C(M'c, k))     P(a given rank is hit)
      remote ranks      = (ep - 1) q_rank                 (by symmetry, the token's own rank
      remote nodes      = (n - 1) q_node                   and node are hit like any other)
      scale-up transfers = (ep - n) q_rank                 ((G - 1) ranks per node, n nodes: the
                                                          landing GPU of a remote node needs no hop)
    Returns (remote_ranks, remote_nodes, scaleup_transfers); ``max_nodes`` = inf means no limit.
    A model with group-limited routing (``groups`` > 1, at most ``groups_per_token``) gets q_rank
    and q_node from ``group_miss_probability`` on the rows without a node limit.

    One layout (scalars) is solved once per process: an ``estimate`` and each row a sweep
    reports ask the same few, ~1 ms each with a group limit.
    """
    if all(np.ndim(x) == 0 for x in (num_experts, ep, nodes, max_nodes)):
        return _one_layout(float(num_experts), int(top_k), float(ep), float(nodes), float(max_nodes), int(groups),
                           int(groups_per_token))
    return _destinations(num_experts, top_k, ep, nodes, max_nodes, groups, groups_per_token)


@functools.lru_cache(maxsize=4096)
def _one_layout(num_experts, top_k, ep, nodes, max_nodes, groups, groups_per_token):
    return _destinations(num_experts, top_k, ep, nodes, max_nodes, groups, groups_per_token)


def _destinations(num_experts, top_k: int, ep, nodes, max_nodes, groups: int = 0, groups_per_token: int = 0):
    """``destinations`` of any broadcast."""
    E = np.asarray(num_experts, dtype=np.float64)
    ep = np.asarray(ep, dtype=np.float64)
    n = np.asarray(nodes, dtype=np.float64)
    m_nodes = np.minimum(np.asarray(max_nodes, dtype=np.float64), n)
    c = E / n
    pool = m_nodes * c
    q_node = (m_nodes / n) * (1 - miss_probability(pool, c, top_k))
    q_rank = (m_nodes / n) * (1 - miss_probability(pool, E / ep, top_k))
    if groups > 1:
        unlimited = np.isinf(np.asarray(max_nodes, dtype=np.float64))
        if np.any(unlimited):
            q_node = np.where(unlimited, 1 - group_miss_probability(num_experts, top_k, groups, groups_per_token,
                                                                    np.broadcast_to(c, np.shape(q_node))), q_node)
            q_rank = np.where(unlimited, 1 - group_miss_probability(num_experts, top_k, groups, groups_per_token,
                                                                    np.broadcast_to(E / ep, np.shape(q_rank))), q_rank)
    return (ep - 1) * q_rank, (n - 1) * q_node, (ep - n) * q_rank


def low_latency_copies(top_k: int, ep, gpus_per_node):
    """Mean copies of a token's hidden vector that DeepEP's low-latency kernels send per MoE layer,
    (scale-up, scale-out).

    The low-latency kernels (decode) send each (token, routed expert) pair on its own, straight to
    the expert's GPU, with no one-crossing-per-node forwarding (deepseek-ai/DeepEP README: "a set
    of low-latency kernels with pure RDMA"). An expert sits on a given rank with probability
    1 / EP (uniform routing); G = min(EP, GPUs per node) ranks share the token's node:
      scale-up copies  = k (G - 1) / EP
      scale-out copies = k (EP - G) / EP
    """
    ep = np.asarray(ep, dtype=np.float64)
    g = np.minimum(ep, np.asarray(gpus_per_node, dtype=np.float64))
    return top_k * (g - 1) / ep, top_k * (ep - g) / ep


def alltoall_seconds(tokens, transfers, message_bytes, link: Link):
    """Time of one dispatch + combine over one kind of link, per GPU.

    t = tokens x transfers x (dispatch + combine bytes) / (bandwidth x efficiency) + 2 x latency

    ``message_bytes`` is dispatch + combine bytes per token per destination; two messages
    (dispatch, then combine) each pay the link's latency. A link that carries nothing costs 0.
    """
    volume = np.asarray(tokens, dtype=np.float64) * transfers * message_bytes
    return np.where(np.asarray(transfers) > 0, volume / (link.bandwidth * link.efficiency) + 2 * link.latency, 0.0)


def allreduce_seconds(message_bytes, group, link: Link):
    """Ring all-reduce over ``group`` GPUs: 2 (g - 1)/g x bytes / (bandwidth x eff) + latency.

    The bus-bandwidth convention of nccl-tests; one collective pays the latency once. g = 1: 0.
    """
    g = np.asarray(group, dtype=np.float64)
    t = 2 * (g - 1) / g * message_bytes / (link.bandwidth * link.efficiency) + link.latency
    return np.where(g > 1, t, 0.0)


def p2p_seconds(message_bytes, link: Link):
    """One point-to-point transfer (a pipeline-stage boundary): bytes / (bandwidth x eff) + latency."""
    return link.seconds(message_bytes)
