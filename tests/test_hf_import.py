"""Family rules of the config.json importer that the transformers cross-check cannot see."""

from __future__ import annotations

import json

import pytest

from moecalc.spec.hf_families import FAMILIES
from moecalc.spec.hf_import import spec_dict_from_config
from moecalc.spec.load import load

from conftest import CONFIGS

REQUIRED_FAMILIES = {"llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2",
                     "deepseek_v3", "kimi_k2", "glm4_moe", "gpt_oss", "olmoe", "phimoe", "dbrx", "llama4"}


def config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def test_every_required_family_is_registered():
    assert REQUIRED_FAMILIES <= set(FAMILIES)


def test_deepseek_v3_quantization_and_router_bias():
    """fp8 with weight_block_size -> block-scaled fp8 on attention/FFN/experts; noaux_tc router keeps
    an e_score_correction_bias (E values per MoE layer); one MTP layer counted apart."""
    d = spec_dict_from_config(config("deepseek-v3"), "deepseek-v3.json")
    assert d["dtypes"]["weights"] == "fp8"
    assert d["dtypes"]["quantized_components"] == ["attention", "mixer", "dense_ffn", "routed_experts", "shared_experts"]
    assert d["moe"]["router_bias"] is True and d["moe"]["first_k_dense"] == 3 and d["mtp_layers"] == 1
    assert (d["moe"]["expert_groups"], d["moe"]["groups_per_token"]) == (8, 4)     # n_group, topk_group


def test_group_limits_imported_only_where_they_limit():
    """DeepSeek-V2 routes to 3 of 8 groups (group_limited_greedy); V2-Lite and Kimi K2 have
    n_group 1, i.e. no limit, and get none."""
    v2 = spec_dict_from_config(config("deepseek-v2"), "deepseek-v2.json")
    assert (v2["moe"]["expert_groups"], v2["moe"]["groups_per_token"]) == (8, 3)
    for name in ("deepseek-v2-lite", "kimi-k2"):
        assert "expert_groups" not in spec_dict_from_config(config(name), f"{name}.json")["moe"]


def test_gpt_oss_mxfp4_leaves_attention_in_bf16():
    """modules_to_not_convert names self_attn, router, embed_tokens, lm_head: only experts are mxfp4."""
    d = spec_dict_from_config(config("gpt-oss-20b"), "gpt-oss-20b.json")
    assert d["dtypes"]["weights"] == "mxfp4"
    assert "attention" not in d["dtypes"]["quantized_components"]
    assert d["attention"]["layer_types"] == ["sliding", "full"]      # shortest repeating pattern


def test_gpt_oss_weights_match_the_checkpoint_tensors():
    """HF's safetensors metadata for openai/gpt-oss-20b lists 1,804,459,584 BF16 elements and
    19,707,494,400 U8 elements (= 19,110,297,600 MXFP4 values + 597,196,800 e8m0 scales, one per 32).
    Bytes: 2 x 1,804,459,584 + 19,110,297,600 / 2 + 597,196,800 = 13,761,264,768."""
    spec, _ = load(str(CONFIGS / "gpt-oss-20b.json"))
    from moecalc.estimate import estimate

    r = estimate(spec)
    experts = r["params"]["by_component"]["routed_experts"] - 24 * 32 * (2 * 2880 + 2880)   # minus biases
    assert experts == 19_110_297_600
    assert r["params"]["total"] - experts == 1_804_459_584
    assert r["weights"]["bytes"] == 13_761_264_768


def test_deepseek_moe_layer_freq_follows_deepseek_code():
    """DeepSeek's modeling_deepseek.py: layer i is MoE when i >= first_k_dense_replace and
    i % moe_layer_freq == 0 (transformers' port ignores moe_layer_freq; every release uses 1)."""
    cfg = dict(config("deepseek-v2-lite"), num_hidden_layers=6, first_k_dense_replace=1, moe_layer_freq=2)
    d = spec_dict_from_config(cfg, "x.json")
    assert d["moe"]["layers"] == [2, 4]


def test_deepseek_missing_q_lora_rank_means_no_query_compression():
    """The V2-Lite release says "q_lora_rank": null; a copy without the key reads the same, which is
    what the safetensors size (15,706,484,224 params) requires."""
    cfg = config("deepseek-v2-lite")
    assert "q_lora_rank" not in cfg
    assert spec_dict_from_config(cfg, "x.json")["attention"]["q_lora_rank"] == 0


def test_qwen2_moe_mlp_only_layers_become_an_explicit_list():
    cfg = {"model_type": "qwen2_moe", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
           "intermediate_size": 80, "moe_intermediate_size": 16, "shared_expert_intermediate_size": 48,
           "num_experts": 6, "num_experts_per_tok": 2, "mlp_only_layers": [0, 2], "vocab_size": 300}
    d = spec_dict_from_config(cfg, "x.json")
    assert d["moe"]["layers"] == [1, 3] and d["moe"]["shared_expert_gate"] is True


def test_llama4_default_nope_layers_attend_fully():
    """Llama 4 without no_rope_layers: every 4th layer is NoPE (full attention), the rest chunked."""
    d = spec_dict_from_config(config("llama-4-scout"), "x.json")
    assert d["attention"]["layer_types"] == ["chunked", "chunked", "chunked", "full"]
    assert d["attention"]["chunk_size"] == 8192


def test_mistral_slides_every_layer():
    d = spec_dict_from_config(config("mistral-7b"), "x.json")
    assert d["attention"]["layer_types"] == ["sliding"] and d["attention"]["sliding_window"] == 4096


@pytest.mark.parametrize("method,bits,expected", [("gptq", 4, "int4"), ("awq", 4, "int4"), ("gptq", 8, "int8")])
def test_gptq_awq(method, bits, expected):
    cfg = dict(config("llama-3.1-8b"), quantization_config={"quant_method": method, "bits": bits})
    assert spec_dict_from_config(cfg, "x.json")["dtypes"]["weights"] == expected


def test_folder_holding_config(tmp_path):
    folder = tmp_path / "Mixtral-8x7B"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "mixtral-8x7b.json").read_text())
    spec, label = load(str(folder))
    assert spec.name == "Mixtral-8x7B" and label.endswith("config.json")
