"""Group-limited routing (DeepSeek's n_group / topk_group) under a uniform router: a token takes
M of the G contiguous expert groups, then its k experts among theirs. Exact per-rank laws of a
token's assignments and of the experts a batch touches, a batch of one exactly, and a sampler.
"""

from __future__ import annotations

from math import comb

import numpy as np

from moecalc.engine.routing.extremes import expected_max
from moecalc.engine.routing.placement import Placement


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
    T = np.zeros((a + 1, a + 1))
    for t in range(a + 1):
        for y, p in enumerate(pick_law):
            if p == 0 or y > a:
                continue
            for n in range(0, min(y, a - t) + 1):
                if y - n <= t:
                    T[t, t + n] += p * comb(a - t, n) * comb(t, y - n) / comb(a, y)
    # each batch's law as it would be alone (never from another batch's): with B = 64 q + r, the
    # chain walked r steps from start T^(64 q) (one walk serves every B of a q), so a law never
    # depends on which other batches were solved with it
    out = np.zeros((len(batches), a + 1))
    start = np.zeros(a + 1)
    start[0] = 1.0
    q, r = np.divmod(np.asarray(batches).astype(np.int64), 64)
    for anchor in np.unique(q, return_counts=True)[0]:
        mine = np.flatnonzero(q == anchor)
        law = start @ np.linalg.matrix_power(T, 64 * int(anchor)) if anchor else start
        walked = [law]
        for _ in range(int(r[mine].max())):
            walked.append(walked[-1] @ T)
        out[mine] = np.asarray(walked)[r[mine]]
    return out


def group_expected_max_touched(top_k: int, groups: int, per_token: int, pl: Placement, tokens) -> np.ndarray:
    """E[max over ranks of the experts B tokens touch on them], uniform group-limited router.

    A rank's experts split into parts, one per group it holds experts of; a token puts
    y ~ (1 - M/G) delta_0 + (M/G) Hypergeometric(M g, a, k) of its picks on a part of a experts,
    and the part's touched count follows ``_touched_chain`` (exact for a rank inside one group,
    the usual case; parts of one rank taken as independent); ranks as in ``expected_max_load``.
    """
    E = len(pl.copies)
    g = E // groups
    pool, k = per_token * g, int(top_k)
    share = _group_share(pl, groups).astype(np.int64)
    kinds, count = np.unique(np.sort(share, axis=1), axis=0, return_counts=True)
    B = np.asarray(tokens, dtype=np.float64)
    values, back = np.unique(B.ravel(), return_inverse=True)
    width = int(share.sum(axis=1).max()) + 1
    chains: dict = {}
    for a in np.unique(kinds[kinds > 0], return_counts=True)[0]:     # (counts: no numpy.ma import)
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
    emax = expected_max(cdf[:, :, :-1], count=count)
    return emax[back.ravel()].reshape(B.shape)



def single_token_expected_max(top_k: int, groups: int, per_token: int, pl: Placement) -> float | None:
    """E[max over ranks of one token's assignments], uniform router limited to M of G groups,
    exactly, or None where no exact form is known here (replicas; ranks that straddle groups).

    P(max <= m) = [u^M z^k] prod_units U(u, z) / (C(G, M) C(M g, k)), a unit being a group
    (U = 1 + u prod_{ranks in it} sum_{j <= m} C(a_r, j) z^j) when ranks lie within groups, or a
    rank holding s groups (U = sum_j C(s, j) u^j sum_{i <= m} C(j g, i) z^i);
    E[max] = sum_{m < k} (1 - P(max <= m)). Every m at once: the polynomials carry an m axis and
    a product in z truncated at z^k is a matrix product with the factor's Toeplitz matrix; units
    of the same shape are built once.
    """
    if np.any(pl.copies > 1):
        return None
    E, k, G, M = len(pl.copies), int(top_k), groups, per_token
    g = E // G
    share = _group_share(pl, G).astype(np.int64)
    inside = (share > 0).sum(axis=1) == 1                      # each rank within one group
    whole = np.all((share == 0) | (share == g), axis=1)        # each rank holding whole groups
    if not (inside.all() or whole.all()):
        return None
    total = comb(G, M) * comb(M * g, k)
    m = np.arange(k)[:, None]                                  # the m axis (m = 0 .. k-1)
    j = np.arange(k + 1)
    shift = j[None, :] - j[:, None]                            # [d, e]: e - d

    def trunc(n):                                              # (m, z^j): C(n, j) for j <= m
        return np.where(j[None, :] <= m, np.array([comb(n, i) for i in j], dtype=np.float64)[None, :], 0.0)

    def times(p, t):                                           # p(z) t(z) truncated at z^k, per m
        toeplitz = np.where(shift >= 0, t[:, np.clip(shift, 0, None)], 0.0)
        return np.einsum("m...d,mde->m...e", p, toeplitz)

    poly = np.zeros((k, M + 1, k + 1))                         # [m, c, d]: coefficient of u^c z^d
    poly[:, 0, 0] = 1.0
    built: dict = {}
    if inside.all():
        for gamma in range(G):
            shape = tuple(sorted(int(share[r].sum()) for r in np.nonzero(share[:, gamma])[0]))
            if shape not in built:
                q = np.zeros((k, k + 1))
                q[:, 0] = 1.0
                for a in shape:
                    q = times(q, trunc(a))
                built[shape] = q
            new = poly.copy()
            new[:, 1:] += times(poly[:, :-1], built[shape])
            poly = new
    else:
        for s in (int(v) for v in (share // g).sum(axis=1)):
            new = np.zeros_like(poly)
            for i in range(min(s, M) + 1):
                new[:, i:] += times(poly[:, :M + 1 - i], comb(s, i) * trunc(i * g))
            poly = new
    return float(np.sum(1.0 - poly[:, M, k] / total))


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
