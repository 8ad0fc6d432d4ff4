"""A finite batch: the step waits for its hottest EP rank, not for the rank with the highest
expected load.

E[max_r X_r] for the B tokens' assignments X_r to rank r, exact per rank (a token's law on r has
pgf e_k(w (1 - x + x z)) / e_k(w); B tokens convolve it) and combined as if ranks were
independent, sum_m 1 - prod_r F_r(m): an approximation, checked against the Monte Carlo; the
experts a batch touches on the slowest rank likewise (Poisson-binomial per rank); a batch of one
exactly. The group-limited uniform router's laws are in ``engine.routing.groups``.
"""

from __future__ import annotations

import numpy as np

from moecalc.engine.routing.law import RouterLaw, esp
from moecalc.engine.routing.placement import Placement


def rank_count_pmf(r: RouterLaw, pl: Placement) -> np.ndarray:
    """Law of how many of one token's k assignments land on each rank: (EP, k + 1).

    With x_i = share of expert i's copies on the rank (a token's assignment to i goes to one
    copy, each equally likely), the probability generating function under conditional
    Poisson sampling is
        E[z^Y] = prod_{forced i} (1 - x_i + x_i z)  e_k'(w (1 - x + x z)) / e_k'(w),
    the elementary symmetric polynomial taken with polynomial weights (one DP over experts).
    """
    ep, k = pl.ep, r.top_k
    x = pl.held() / pl.copies
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
        free_pmf = e[:, K, :] / esp(r.w[None, :], K)[0, -1]
        out = np.stack([np.convolve(out[q], free_pmf[q])[: k + 1] for q in range(ep)])
    return out


NORMAL_FROM = 2048      # B k past which many distinct ranks take the normal law (within 0.2% of exact there)


def _normal_cdf(z):
    """Phi(z) from erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return 0.5 * (1.0 + np.sign(z) * (1.0 - poly * np.exp(-x * x)))


def expected_max(cdf: np.ndarray, start=0.0, count=None) -> np.ndarray:
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
            out[j] = expected_max(_normal_cdf(z), top, count[keep])
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
        out[j] = expected_max(F[:, :-1], top, count[keep])
    return out[back.ravel()].reshape(B.shape)


def _expected_max_alike(pmf: np.ndarray, ranks: int, batches: np.ndarray, chain: int = 128) -> np.ndarray:
    """``expected_max_load`` for ``ranks`` ranks sharing one law, vectorized over the batches
    (the same windowed FFT, batches of one FFT length together).

    Each batch's value is what it would be alone, whatever other batches, blocks or cached runs
    are solved with it: with B = q ``chain`` + r, phi^B = phi^(q chain) phi^r, the first a
    complex power (one per multiple of ``chain``), the second from the running products phi,
    phi^2, ..., phi^(chain - 1) (one complex multiply a frequency each instead of a power: a
    sweep's batch axis costs ~2.5x less; at most ``chain`` factors of modulus <= 1 agree with
    the power to ~1e-12); and its sum runs left to right over its own window."""
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
    for n in np.unique(size, return_counts=True)[0]:                # (counts: no numpy.ma import)
        spectrum = np.fft.rfft(pmf, int(n))
        members = np.nonzero(size == n)[0]
        members = members[np.argsort(b[members], kind="stable")]
        q, r = np.divmod(b[members].astype(np.int64), chain)
        running = np.empty((int(r.max()) + 1, len(spectrum)), dtype=complex)
        running[0] = 1.0
        for i in range(1, len(running)):
            running[i] = running[i - 1] * spectrum
        multiples, which = np.unique(q, return_inverse=True)
        anchor = spectrum[None, :] ** (chain * multiples[:, None]).astype(np.float64)
        which = which.ravel()
        # rows of near batches together, so that each block's window is about its rows' own
        for rows in np.array_split(np.arange(len(members)), max(1, -(-len(members) // 128))):
            group = members[rows]
            law = np.clip(np.fft.irfft(running[r[rows]] * anchor[which[rows]], int(n), axis=1), 0, None)
            if start[group].any():
                law = np.take_along_axis(law, (start[group, None] + np.arange(n)[None, :]) % n, axis=1)
            cdf = np.cumsum(law, axis=1)
            offset = top[group, None] + np.arange(span[group].max())[None, :] - start[group, None]
            F = np.where(offset >= n, 1.0, np.take_along_axis(cdf, np.clip(offset, 0, n - 1), axis=1))
            # each row summed left to right over its own window (a running sum read at its end:
            # the same for the row whatever the width of the rows beside it)
            total = np.cumsum(1.0 - np.clip(F, 0.0, 1.0) ** ranks, axis=1)
            out[group] = top[group] + np.take_along_axis(total, span[group, None] - 1, axis=1)[:, 0]
    return out


def expected_max_touched(r: RouterLaw, pl: Placement, tokens) -> np.ndarray:
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
    emax = expected_max(cdf[:, :, :-1], count=count)
    return emax[back.ravel()].reshape(B.shape)



def touched_on_fullest(r: RouterLaw, pl: Placement, tokens) -> np.ndarray:
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



def single_token_expected_max(r: RouterLaw, pl: Placement) -> float | None:
    """E[max over ranks of one token's assignments on them], exactly, or None with replicated
    experts (no exact form here). One token touches what it is assigned, so this is also the
    experts a batch of one reads on the slowest GPU.

    Conditional Poisson: P(max <= m) = [z^k] prod_r sum_{j <= m} e_j(w_r) z^j / e_k(w), w_r the
    odds of rank r's experts (forced experts fixed in). The group-limited uniform router's is
    ``groups.single_token_expected_max``.
    """
    if np.any(pl.copies > 1):
        return None
    E, k = len(r.pi), r.top_k
    w_all = np.zeros(E)
    w_all[r.free] = r.w
    forced = r.forced

    def cdf(m):
        poly = np.array([1.0])
        for rank in range(pl.ep):
            mine = pl.expert[pl.rank == rank]
            n_forced = int(forced[mine].sum())
            e = esp(w_all[mine][None, ~forced[mine]], k)[0]            # e_0..e_k of the free odds
            law = np.zeros(k + 1)
            for j in range(n_forced, min(m, k) + 1):
                law[j] = e[j - n_forced]
            poly = np.convolve(poly, law)[: k + 1]
        return poly[k] / esp(r.w[None, :], r.k_free)[0, -1]
    return float(sum(1.0 - cdf(m) for m in range(k)))
