"""Recurrent mixers of hybrid models, from their dimensions to the engine's ``Recurrent``:
parameters of one layer (matrices apart from convolutions, biases, norms and decay
parameters), the state a sequence holds, the recurrence's FLOPs per decoded token.

Each variant follows its family's transformers 5.24 modeling code. The state is the recurrent
matrix state plus the causal convolution's last K - 1 inputs (what a decode step needs; the
FLOPs are one decode step's: about 7 per state element for a gated delta rule, 5 for
lightning attention and Mamba-2, 6 for Mamba-1, plus the depthwise convolution's 2 K per
channel). They do not cover a chunked prefill's extra work.
"""

from __future__ import annotations

from moecalc.engine.schedule import Recurrent


def gated_deltanet(h: int, k_heads: int, v_heads: int, k_dim: int, v_dim: int, conv: int) -> Recurrent:
    """Gated DeltaNet (Qwen3-Next ``Qwen3NextGatedDeltaNet``), with K = k_heads d_k, Vd = v_heads d_v,
    conv_dim = 2 K + Vd:
      matrices: in_proj_qkvz h (2 K + 2 Vd) + in_proj_ba h 2 v_heads + out_proj Vd h
      others:   depthwise conv conv_dim x conv + dt_bias and A_log (v_heads each) + gated norm d_v
      state:    v_heads d_k d_v + (conv - 1) conv_dim
    """
    K, Vd = k_heads * k_dim, v_heads * v_dim
    conv_dim = 2 * K + Vd
    return Recurrent(variant="gated_deltanet", heads=k_heads,
                     matrix=h * (2 * K + 2 * Vd) + h * 2 * v_heads + Vd * h,
                     vector=conv_dim * conv + 2 * v_heads + v_dim,
                     state_elements=v_heads * k_dim * v_dim + (conv - 1) * conv_dim,
                     flops_per_token=7 * v_heads * k_dim * v_dim + 2 * conv * conv_dim, width=2 * K + 2 * Vd)


def kda(h: int, heads: int, head_dim: int, conv: int) -> Recurrent:
    """Kimi Delta Attention (``KimiDeltaAttention``), P = heads d:
      matrices: q, k, v h P each + forget gate h d + d P + beta h heads + output gate h d + d P + o P h
      others:   depthwise convs over q, k, v (3 P conv) + dt_bias P + A_log heads + gated norm d
      state:    heads d d + (conv - 1) 3 P
    """
    d, P = head_dim, heads * head_dim
    return Recurrent(variant="kda", heads=heads,
                     matrix=3 * h * P + (h * d + d * P) + h * heads + (h * d + d * P) + P * h,
                     vector=3 * P * conv + P + heads + d,
                     state_elements=heads * d * d + (conv - 1) * 3 * P,
                     flops_per_token=7 * heads * d * d + 2 * conv * 3 * P, width=3 * P)


def lightning(h: int, heads: int, head_dim: int) -> Recurrent:
    """Lightning attention (MiniMax-Text-01 ``MiniMaxLightningAttention``), P = heads d:
      matrices: qkv h 3P + output gate h P + out P h;  others: a norm over P
      state:    heads d d (the running K^T V; no convolution). Its decay slopes are computed,
      not stored (the checkpoints hold only the four tensors above).
    """
    P = heads * head_dim
    return Recurrent(variant="lightning", heads=heads, matrix=h * 3 * P + h * P + P * h, vector=P,
                     state_elements=heads * head_dim * head_dim, flops_per_token=5 * heads * head_dim * head_dim,
                     width=3 * P)


def mamba2(h: int, heads: int, head_dim: int, d_state: int, groups: int, conv: int, conv_bias: bool,
           proj_bias: bool) -> Recurrent:
    """Mamba-2 (Nemotron-H ``NemotronHMamba2Mixer``, Granite-4.0-H), D = heads d, conv_dim = D + 2 G N:
      matrices: in_proj h (D + conv_dim + heads) + out_proj D h
      others:   conv conv_dim conv (+ conv_dim bias) + dt_bias, A_log, D_skip (heads each) + gated
                norm D (+ in/out projection biases)
      state:    heads d N + (conv - 1) conv_dim
    """
    D = heads * head_dim
    conv_dim = D + 2 * groups * d_state
    proj = D + conv_dim + heads
    return Recurrent(variant="mamba2", heads=heads, matrix=h * proj + D * h,
                     vector=proj_bias * (proj + h) + conv_dim * conv + conv_bias * conv_dim + 3 * heads + D,
                     state_elements=heads * head_dim * d_state + (conv - 1) * conv_dim,
                     flops_per_token=5 * heads * head_dim * d_state + 2 * conv * conv_dim, width=proj)


def mamba1(h: int, d_inner: int, d_state: int, dt_rank: int, conv: int, conv_bias: bool, proj_bias: bool,
           inner_norms: bool) -> Recurrent:
    """Mamba-1 (Jamba ``JambaMambaMixer``), D = d_inner, N = d_state, R = dt_rank:
      matrices: in_proj h 2D + x_proj D (R + 2N) + dt_proj R D + out_proj D h
      others:   conv D conv (+ D bias) + dt_proj bias D + A_log D N + D_skip D (+ projection biases)
                + dt, B, C norms R + 2N (Jamba)
      state:    D N + (conv - 1) D
    The channels D split over TP, so they stand in for heads.
    """
    D, N, R = d_inner, d_state, dt_rank
    return Recurrent(variant="mamba1", heads=D, matrix=h * 2 * D + D * (R + 2 * N) + R * D + D * h,
                     vector=proj_bias * (2 * D + h) + D * conv + conv_bias * D + D + D * N + D
                     + inner_norms * (R + 2 * N),
                     state_elements=D * N + (conv - 1) * D, flops_per_token=6 * D * N + 2 * conv * D, width=2 * D)
