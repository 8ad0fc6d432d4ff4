"""FLOPs per token: 2 per multiply-accumulate (Kaplan et al. 2020, section 2.1).

Matmul FLOPs come from the active parameters; attention FLOPs from the keys each query sees.
"""

from __future__ import annotations

import numpy as np


def matmul_flops(active_params, embedding_params):
    """Per token: 2 x (active params - input embedding); the embedding is a gather, not a GEMM.

    Includes the router GEMM and the output head (both are active parameters).
    """
    return 2 * (np.asarray(active_params, dtype=np.float64) - embedding_params)


def decode_keys(context, layer_span):
    """Keys one new token attends to at position ``context``: min(context, span) per layer group."""
    return np.minimum(np.asarray(context, dtype=np.float64)[..., None], layer_span)


def prefill_keys(context, layer_span, layer_chunked):
    """Mean keys per query over a causal prompt of L = context tokens, per layer group.

    Full or sliding window S (m = min(L, S)):  (m(m+1)/2 + (L - m) S) / L   (full: (L+1)/2)
    Chunked attention of chunk C: query i sees ((i-1) mod C) + 1 keys; with q = floor(L/C),
    r = L - qC:  (q C(C+1)/2 + r(r+1)/2) / L
    """
    L = np.asarray(context, dtype=np.float64)[..., None]
    S = np.asarray(layer_span, dtype=np.float64)
    m = np.minimum(L, S)
    sliding = (m * (m + 1) / 2 + (L - m) * S) / L
    q = np.floor(L / S)
    r = L - q * S
    chunked = (q * S * (S + 1) / 2 + r * (r + 1) / 2) / L
    return np.where(layer_chunked, chunked, sliding)


def attention_flops(flops_per_key, keys, layer_count):
    """Score and value FLOPs per token, summed over span groups: c x sum_s n_s keys_s.

    c = 2 n (d_qk + d_v): QK^T costs 2 n d_qk per key and softmax(.)V costs 2 n d_v per key
    (n heads). For MLA in its absorbed (decode) form d_qk = r_kv + d_rope and d_v = r_kv
    (attention runs in the latent space); in its naive (prefill) form d_qk = d_nope + d_rope
    and d_v = d_v. n_s layers see keys_s keys each.
    """
    return np.asarray(flops_per_key) * (np.asarray(keys) * layer_count).sum(axis=-1)
