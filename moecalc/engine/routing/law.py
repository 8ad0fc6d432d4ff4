"""The router's law: which k of E experts one token picks, for per-expert inclusion
probabilities pi (sum_i pi_i = k, 0 <= pi_i <= 1), tokens independently.

Of all laws of a k-subset with those marginals we take the one of maximum entropy, conditional
Poisson sampling (Hajek 1964; Chen, Dempster & Liu, Biometrika 81, 1994):

    P(S) = prod_{i in S} w_i / e_k(w),   |S| = k,   e_k = k-th elementary symmetric polynomial

with odds w solved so that the marginals are pi. Equal pi = k/E gives a uniform k-subset,
exactly the uniform router of ``engine.alltoall``. Closed forms here (load share p_i = pi_i / k):

    distinct experts touched by B tokens   D(B) = sum_i 1 - (1 - pi_i)^B
    effective experts                      exp(-sum_i p_i ln p_i)       (E uniform, k collapsed)
    P(a token avoids a weighting x)        E[prod_{i in S} x_i] = e_k(w x) / e_k(w)

``sample_sets`` draws exact conditional-Poisson subsets for the Monte Carlo checks and traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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


def esp(w: np.ndarray, k: int) -> np.ndarray:
    """Elementary symmetric polynomials e_0..e_k of each row of w (n_sets x n): shape (n_sets, k+1).

    e_j(w_1..w_n) is the t^j coefficient of prod_i (1 + w_i t). When w holds few distinct values
    (a uniform router: one odds value, and 0 where a rank holds the expert), a value v met m
    times in a row contributes (1 + v t)^m = sum_j C(m, j) v^j t^j at once; otherwise the
    recurrence e_j <- e_j + w_i e_{j-1} runs over the experts.
    """
    w = np.asarray(w, dtype=np.float64)
    e = np.zeros((w.shape[0], k + 1))
    e[:, 0] = 1.0
    values = _few_values(w, k)
    if values is None:
        for i in range(w.shape[1]):
            e[:, 1:] = e[:, 1:] + w[:, i:i + 1] * e[:, :-1]
        return e
    j = np.arange(k + 1)
    for v in values:
        factor = _binomial((w == v).sum(axis=1)[:, None], j[None, :]) * v ** j[None, :]    # (1 + v t)^m
        e = np.stack([(e[:, :i + 1] * factor[:, i::-1]).sum(axis=1) for i in range(k + 1)], axis=1)
    return e


def _few_values(w: np.ndarray, k: int) -> np.ndarray | None:
    """The distinct nonzero values of w when ``esp``'s binomial form is the cheaper and safe, else
    None. Cheaper: about 4k + 3 array operations a value against 2 a column for the recurrence
    (the first row's values are counted before the whole: a skewed router's differ there). Safe:
    finite values whose powers and counts stay far from overflow, C(n, k) < n^k with
    k log10(n max|v|) < 250."""
    n = w.shape[1]
    # (return_counts: numpy 2's plain np.unique imports numpy.ma, ~20 ms of a CLI start)
    if w.size == 0 or 2 * n <= 4 * k + 3 or len(np.unique(w[0], return_counts=True)[0]) > 9:
        return None
    values = np.unique(w, return_counts=True)[0]
    values = values[values != 0]
    if len(values) > 8 or len(values) * (4 * k + 3) >= 2 * n or not np.isfinite(w).all():
        return None
    scale = float(np.abs(values).max()) * n if len(values) else 1.0
    return values if k * np.log10(max(scale, 1.0)) < 250 else None


def _binomial(m: np.ndarray, j: np.ndarray) -> np.ndarray:
    """C(m, j) elementwise (0 where j > m): the running product prod_{i<j} (m - i) / (i + 1),
    exact while it stays below 2^53."""
    m, j = np.broadcast_arrays(np.asarray(m, dtype=np.float64), np.asarray(j, dtype=np.float64))
    out = np.ones(m.shape)
    for i in range(int(j.max()) if j.size else 0):
        out = np.where(i < j, out * (m - i) / (i + 1), out)
    return np.where(j > m, 0.0, out)


@dataclass(frozen=True)
class RouterLaw:
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
        num = esp(self.w[None, :] * x[:, self.free], self.k_free)[:, -1]
        return sure * num / self.normalizer

    @cached_property
    def normalizer(self) -> float:
        """e_k'(w), ``avoid``'s denominator: the same for every weighting, computed once."""
        return esp(self.w[None, :], self.k_free)[0, -1]


def _free_inclusion(w: np.ndarray, k: int) -> np.ndarray:
    """pi_i(w) = w_i e_{k-1}(w without i) / e_k(w), computed for every i at once."""
    n = len(w)
    without = np.broadcast_to(w, (n, n)).copy()
    np.fill_diagonal(without, 0.0)
    e_minus = esp(without, k - 1)[:, -1]
    return w * e_minus / esp(w[None, :], k)[0, -1]


def solve(pi, tol: float = 1e-11, max_iter: int = 2000) -> RouterLaw:
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
        return RouterLaw(pi, forced | (pi > 0), np.zeros(0, dtype=np.int64), np.zeros(0), 0)
    w = target / (1 - target)
    w = w / w.mean()
    for _ in range(max_iter):
        got = _free_inclusion(w, k_free)
        if np.max(np.abs(got - target) / target) < tol:
            break
        got = np.clip(got, 1e-300, 1 - 1e-15)
        w = w * (target / (1 - target)) / (got / (1 - got))
        w = w / w.mean()
    return RouterLaw(pi, forced, free, w, k_free)


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


def sample_sets(r: RouterLaw, tokens: int, rng: np.random.Generator, block: int = 4096) -> np.ndarray:
    """Draw each token's k experts from the conditional-Poisson law: (tokens x E) booleans.

    Sequential method: walking the free experts in order with m still to pick, take expert
    j with probability w_j e_{m-1}(w_{j+1..}) / e_m(w_{j..}) (suffix polynomials), which
    yields P(S) proportional to prod w exactly. The probabilities are tabled once for every
    (j, m); tokens go in blocks of ``block`` (their uniforms drawn block by block, the same
    stream as one draw), so each step works in cache: 4x faster than the whole batch at once.
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
    # take[j, m]: P(expert j is taken | m still to pick); 0 for m = 0, and for the (m, j) no
    # token reaches (more to pick than experts left: e_m = 0)
    num = w[:, None] * suffix[1:, :-1]
    den = suffix[:-1, 1:]
    take = np.zeros((n, K + 1))
    np.divide(num, den, out=take[:, 1:], where=den > 0)
    for start in range(0, tokens, block):
        u = rng.random((min(block, tokens - start), n))
        need = np.full(len(u), K)
        chosen = np.empty(u.shape, dtype=bool)
        for j in range(n):
            chosen[:, j] = u[:, j] < take[j, need]
            need = need - chosen[:, j]
        out[start:start + len(u), r.free] = chosen
    return out