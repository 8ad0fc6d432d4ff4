"""Every engine formula on numbers small enough to check by hand; the derivation is in each docstring."""

from __future__ import annotations

import numpy as np
import pytest

from moecalc.assumptions import Assumptions
from moecalc.engine import flops, kv, memory, params
from moecalc.engine.schedule import FULL_SPAN
from moecalc.engine.dtypes import KV_DTYPES, WEIGHT_DTYPES
from moecalc.engine.model import summary_params
from moecalc.estimate import Workload, estimate

from conftest import tiny_spec


def test_gqa_attention_params():
    """h=64, 4 heads, 2 kv heads, d=16: W_q 64*64 + W_k 64*32 + W_v 64*32 + W_o 64*64 = 12,288.
    With q/k/v biases: 64 + 32 + 32 = 128; o bias 64; per-head q/k norm 2*16 = 32; sinks 4."""
    m, v = params.gqa_attention_params(64, 4, 2, 16, 16, False, False, 0, False)
    assert (m, v) == (12288, 0)
    m, v = params.gqa_attention_params(64, 4, 2, 16, 16, True, True, 32, True)
    assert (m, v) == (12288, 128 + 64 + 32 + 4)


def test_mla_attention_params():
    """h=32, n=2, r_q=8, r_kv=4, d_nope=4, d_rope=2, d_v=3:
    W_DQ 32*8=256, W_UQ 8*2*6=96, W_DKV 32*6=192, W_UKV 4*2*7=56, W_O 2*3*32=192 -> 792;
    norms r_q + r_kv = 12. Without query compression: W_Q 32*2*6=384 -> 824, norm 4."""
    assert params.mla_attention_params(32, 2, 8, 4, 4, 2, 3, False, False) == (792, 12)
    m, v = params.mla_attention_params(32, 2, 0, 4, 4, 2, 3, False, False)
    assert (int(m), int(v)) == (824, 4)
    # biases on W_DQ (8), W_DKV (6) and W_O (32)
    m, v = params.mla_attention_params(32, 2, 8, 4, 4, 2, 3, True, True)
    assert int(v) == 12 + 8 + 6 + 32


def test_ffn_and_router_params():
    """Gated 3*64*32 = 6,144; ungated 2*64*32 = 4,096; gated biases 2*32 + 64 = 128.
    Router 64*4 = 256 (+4 with a bias)."""
    assert params.ffn_params(64, 32, True, False) == (6144, 0)
    assert params.ffn_params(64, 32, False, False) == (4096, 0)
    assert params.ffn_params(64, 32, True, True) == (6144, 128)
    assert params.router_params(64, 4, True) == (256, 4)
    assert int(params.norm_params(64, True)) == 128


def test_tiny_model_breakdown(tiny):
    """TINY (conftest): h=64, L=2 (layer 0 dense, layer 1 MoE), V=100, E=4, k=2, one shared expert.
    embedding 6,400; attention 2*12,288 = 24,576; dense FFN 3*64*128 = 24,576;
    routed 4*6,144 = 24,576; shared 6,144; router 256; norms (2*2+1)*64 = 320; lm_head 6,400.
    total 93,248; active = total - (4-2)*6,144 = 80,960."""
    p = tiny.numbers().params
    assert p.by_component == {"embedding": 6400, "attention": 24576, "dense_ffn": 24576,
                              "routed_experts": 24576, "shared_experts": 6144, "router": 256,
                              "norms": 320, "lm_head": 6400, "mixer": 0, "vision": 0}
    assert p.total == 93248
    assert p.active == 80960
    assert p.per_expert == 6144


def test_tied_embeddings_and_lm_head_bias():
    """Tied: lm_head holds nothing (0); an lm_head bias adds V = 100."""
    p = tiny_spec(tie_embeddings=True).numbers().params
    assert p.by_component["lm_head"] == 0 and p.total == 93248 - 6400
    p = tiny_spec(lm_head_bias=True).numbers().params
    assert p.by_component["lm_head"] == 6400 + 100


def test_moe_layer_selection():
    """every_n=2 with 4 layers: layers 1 and 3 (0-based) are MoE; explicit list wins."""
    spec = tiny_spec(num_layers=4, moe={"first_k_dense": 0, "every_n": 2})
    assert spec.moe_mask().tolist() == [False, True, False, True]
    spec = tiny_spec(num_layers=4, moe={"layers": [0, 2]})
    assert spec.moe_mask().tolist() == [True, False, True, False]


def test_mtp_counted_apart():
    """One MTP module on TINY: attention 12,288 + MoE FFN (24,576 routed + 6,144 shared + 256 router)
    + 5 norms (320) + eh_proj 2*64*64 = 8,192 + its own embedding and head (6,400 each)."""
    p = tiny_spec(mtp_layers=1).numbers().params
    assert p.total == 93248
    assert p.mtp == sum(p.mtp_by_component.values()) == 12288 + 24576 + 6144 + 256 + 320 + 8192 + 6400 + 6400


def test_kv_elements():
    """GQA: 2 kv heads * (16 + 16) = 64 per token per layer. MLA (DeepSeek-V3): 512 + 64 = 576."""
    assert kv.gqa_kv_elements(2, 16, 16) == 64
    assert kv.mla_kv_elements(512, 64) == 576
    assert kv.kv_bytes_per_token(576, 2, 61) == 70272


def test_kv_cache_with_sliding_window():
    """Two layers, one sliding (W=8) and one full, 64 values/token/layer in bf16, batch 3, context 20:
    held tokens 8 + 20 = 28 -> 3 * 64 * 2 * 28 = 10,752 bytes."""
    got = kv.kv_cache_bytes(64, 2, 20, 3, np.array([8.0, FULL_SPAN]), np.array([1, 1]))
    assert got == 10752
    spec = tiny_spec(attention={"sliding_window": 8, "layer_types": ["sliding", "full"]})
    r = estimate(spec, Workload(context=20, batch=3))
    assert r["kv_cache"]["bytes"] == 10752
    assert r["kv_cache"]["bytes_per_token"] == 64 * 2 * 2


def test_prefill_keys_causal_average():
    """L=4: full sees 1,2,3,4 -> 2.5; sliding W=2 sees 1,2,2,2 -> 1.75;
    chunked C=3 at L=7 sees 1,2,3,1,2,3,1 -> 13/7."""
    assert flops.prefill_keys(4, np.array([FULL_SPAN]), np.array([False]))[0] == pytest.approx(2.5)
    assert flops.prefill_keys(4, np.array([2.0]), np.array([False]))[0] == pytest.approx(1.75)
    assert flops.prefill_keys(7, np.array([3.0]), np.array([True]))[0] == pytest.approx(13 / 7)


def test_prefill_keys_matches_brute_force():
    """The closed forms equal the mean over positions i = 1..L of the keys query i sees."""
    for L in (1, 5, 16, 37):
        for S in (1, 3, 8, 64):
            brute_sliding = np.mean([min(i, S) for i in range(1, L + 1)])
            brute_chunked = np.mean([((i - 1) % S) + 1 for i in range(1, L + 1)])
            got = flops.prefill_keys(L, np.array([float(S), float(S)]), np.array([False, True]))
            assert got[0] == pytest.approx(brute_sliding) and got[1] == pytest.approx(brute_chunked)


def test_decode_keys_and_attention_flops():
    """Decode at context 10 with spans (4, full): keys 4 and 10.
    MLA absorbed, n=2, r_kv=4, d_rope=2: per key 2*2*((4+2) + 4) = 40 -> 40 * (4 + 10) = 560."""
    keys = flops.decode_keys(10, np.array([4.0, FULL_SPAN]))
    assert keys.tolist() == [4.0, 10.0]
    assert flops.attention_flops(2 * 2 * (6 + 4), keys, np.array([1, 1])) == 560
    # groups: 3 layers of span 4 count three times
    assert flops.attention_flops(2 * 2 * (6 + 4), keys, np.array([3, 1])) == 40 * (12 + 10)


def test_matmul_flops_skip_input_embedding():
    """2 x (active - embedding) = 2 x (80,960 - 6,400) = 149,120 for TINY."""
    assert flops.matmul_flops(80960, 6400) == 149120
    r = estimate(tiny_spec(), Workload(context=4, batch=1))
    assert r["flops"]["prefill"]["matmul"] == 149120
    # attention: 2 layers * 2*4*(16+16) per key * 2.5 keys (L=4 prefill) = 1,280; decode 4 keys: 2,048
    assert r["flops"]["prefill"]["attention"] == pytest.approx(1280)
    assert r["flops"]["decode"]["attention"] == pytest.approx(2048)


def test_dtype_bits():
    """mxfp4: 4 + 8/32 = 4.25 bits; fp8 block: 8 + 32/(128*128); int4 g128: 4 + 16/128 = 4.125."""
    assert WEIGHT_DTYPES["mxfp4"].bits == 4.25
    assert WEIGHT_DTYPES["fp8"].bits == 8 + 32 / 16384
    assert WEIGHT_DTYPES["int4"].bits == 4.125
    assert WEIGHT_DTYPES["bf16"].bits == 16 and KV_DTYPES["fp8"].bytes == 1


def test_weight_bytes_quantized_components():
    """TINY in mxfp4 with only routed experts quantized: 24,576 * 4.25/8 = 13,056 bytes,
    everything else (93,248 - 24,576 = 68,672 params) in bf16 = 137,344 bytes -> 150,400."""
    spec = tiny_spec(dtypes={"weights": "mxfp4", "quantized_components": ["routed_experts"]})
    r = estimate(spec)
    assert r["weights"]["bytes"] == 150400
    assert r["weights"]["by_component"]["routed_experts"] == 13056
    assert sum(r["weights"]["by_component"].values()) == r["weights"]["bytes"]
    # a float override stores everything in that dtype: 93,248 * 4 bytes
    assert estimate(spec, Workload(weights_dtype="fp32"))["weights"]["bytes"] == 93248 * 4


def test_activation_workspace_and_floor():
    """T = min(8192, 2*3) = 6 tokens, b_act=2, h=64, widest intermediate of TINY:
    attention 4*16 + 2*32 = 128, dense 2*128 = 256, MoE 2*(2*32 + 1*32) = 192 -> 256.
    workspace = 6*2*(128 + 256) + 2*100*4 = 4,608 + 800 = 5,408."""
    got = memory.activation_workspace_bytes(3, 2, 8192, 2, 64, 256, 100, 4)
    assert got == 5408
    assert tiny_spec().numbers().widest_activation == 256
    r = estimate(tiny_spec(), Workload(context=3, batch=2), Assumptions(runtime_overhead_bytes=1000))
    m = r["memory"]
    assert m["activation_workspace_bytes"] == 5408
    assert m["vram_floor_bytes"] == m["weights_bytes"] + m["kv_cache_bytes"] + 5408 + 1000


def test_summary_params():
    """total 100, active 40, E=8, k=2: routed = 60*8/6 = 80, active routed 20; embedding 5,
    head 5, the rest 10."""
    p = summary_params(100, 40, 8, 2, 5, 5)
    assert p.by_component == {"embedding": 5, "non_expert": 10, "routed_experts": 80, "lm_head": 5}
    assert p.total == 100 and p.active == 40
