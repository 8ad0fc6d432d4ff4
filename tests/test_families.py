"""The 2025-26 families (tests/data/configs/families: real configs with their provenance in
SOURCES.md, and transformers 5.24's meta-device count of each in transformers_counts.json).

Each config imports and its total equals transformers' parameters plus the buffers its
checkpoints store (router score-correction biases, Gemma 4's layer scalars and vision std), with
every exception explained where it is asserted; the three without a transformers class match
their published totals; the recurrent state of the hybrids is derived by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moecalc.estimate import Workload, estimate
from moecalc.spec.load import load

FAMILIES = Path(__file__).parent / "data" / "configs" / "families"
COUNTS = json.loads((FAMILIES / "transformers_counts.json").read_text())["counts"]


def params(stem: str, **workload) -> dict:
    spec, _ = load(str(FAMILIES / f"{stem}.json"))
    return estimate(spec, Workload(**workload))


def test_every_family_config_imports():
    stems = sorted(p.stem for p in FAMILIES.glob("*.json") if p.name != "transformers_counts.json")
    assert len(stems) == 20 and set(stems) == set(COUNTS)
    for stem in stems:
        assert params(stem)["params"]["total"] > 0, stem


COUNTED = [stem for stem, c in COUNTS.items() if c.get("total")]


@pytest.mark.parametrize("stem", COUNTED)
def test_total_equals_transformers(stem):
    """ours = transformers' parameters + the buffers checkpoints store, except:
    - MiniMax-Text-01: its 295,899,520 buffers (slopes and decays of the lightning layers) are
      computed at load, not stored (the checkpoints hold four tensors per lightning layer);
    - LongCat-Flash: transformers allocates gate/up rows for the 256 zero experts, which hold no
      weights: 28 blocks x 256 x 2 x 2048 x 6144 = 180,388,626,432 fewer."""
    ref = COUNTS[stem]
    got = params(stem)["params"]
    want = ref["total"] + ref.get("persistent_buffers", 0)
    if stem == "minimax-text-01":
        want = ref["total"]
    if stem == "longcat-flash-chat":
        want -= 28 * 256 * 2 * 2048 * 6144
    assert got["total"] == want


@pytest.mark.parametrize("stem", COUNTED)
def test_components_equal_transformers(stem):
    """Component by component where the two split alike: routed experts, embedding and head
    exactly; transformers files recurrent mixers under 'attention' or 'attention_or_mixer', so
    those two are our attention + mixer (Qwen3-Next's 12 softmax layers apart)."""
    ref = COUNTS[stem]["by_component"]
    got = params(stem)["params"]["by_component"]
    routed = ref["routed_experts"] - (28 * 256 * 2 * 2048 * 6144 if stem == "longcat-flash-chat" else 0)
    assert got["routed_experts"] == routed
    assert got["embedding"] == ref["embedding"] and got["lm_head"] == ref.get("lm_head", 0)
    assert got["attention"] + got["mixer"] == ref.get("attention_or_mixer", 0) + ref.get("attention", 0)
    if stem == "qwen3-next-80b-a3b":
        assert got["attention"] == ref["attention"]
    if "vision" in ref:
        buffers = 2 * 1152 if stem.startswith("gemma-4") else 0          # its stored std bias and scale
        assert got["vision"] == ref["vision"] + buffers
    else:
        assert got["vision"] == 0


@pytest.mark.parametrize("stem, published, total_of", [
    ("ling-plus", 290e9, lambda p: p["total"]),                          # Ling-plus: 290B
    ("step3", 316e9, lambda p: p["total"] - p["by_component"]["vision"]),  # Step3 card: LLM 316B
])
def test_published_totals_without_a_transformers_class(stem, published, total_of):
    """Within half a unit of the published rounding (+-0.5B)."""
    assert abs(total_of(params(stem)["params"]) - published) < 0.7e9


def test_grok1_against_its_readme():
    """xai-org/grok-1: "314B parameters" is its 64 decoder layers, 314.88B truncated (the tied
    131,072 x 6,144 embedding adds 0.81B: 315.68B in all)."""
    p = params("grok-1")["params"]
    assert p["total"] == 315_684_820_992
    assert 314e9 <= p["total"] - p["embedding"] - 6144 < 315e9


def test_recurrent_state_of_the_hybrids_by_hand():
    """Per sequence, whatever its length (bf16 cache, 2 bytes a value):
    - Qwen3-Next-80B-A3B: 36 Gated DeltaNet layers of 32 value heads x 128 x 128 plus a conv window
      of 3 x (2 x 16 x 128 + 32 x 128) = 3 x 8,192: 36 x 548,864 = 19,759,104 values;
    - MiniMax-Text-01: 70 lightning layers of 64 heads x 128 x 128 (no conv): 73,400,320;
    - Nemotron 3 Nano 30B-A3B: 23 Mamba-2 layers of 64 heads x 64 x 128 plus 3 x (4,096 + 2 x 8 x 128):
      23 x 542,720 = 12,482,560."""
    for stem, values in (("qwen3-next-80b-a3b", 36 * (32 * 128 * 128 + 3 * 8192)),
                         ("minimax-text-01", 70 * 64 * 128 * 128),
                         ("nemotron-3-nano-30b-a3b", 23 * (64 * 64 * 128 + 3 * (4096 + 2 * 8 * 128)))):
        short, long = params(stem, context=1024, batch=2), params(stem, context=65536, batch=2)
        assert short["kv_cache"]["state_bytes_per_sequence"] == 2 * values, stem
        assert long["memory"]["state_bytes"] == short["memory"]["state_bytes"] == 2 * 2 * values


def test_kv_grows_only_for_the_softmax_layers():
    """Qwen3-Next caches keys and values in its 12 attention layers only: 12 x 2 x 2 heads x 256
    values a token; the whole-model count would have been 4 times that."""
    r = params("qwen3-next-80b-a3b", context=8192, batch=1)
    assert r["kv_cache"]["bytes_per_token"] == 12 * 2 * 2 * 256 * 2
    assert r["kv_cache"]["layers"] == {"full": 12, "sliding": 0, "chunked": 0, "recurrent": 36}
    assert r["kv_cache"]["bytes"] == 8192 * r["kv_cache"]["bytes_per_token"]


def test_sparse_attention_caps_attention_at_its_top_k():
    """DeepSeek-V3.2 decode at 100,000 keys: MLA attends the indexer's 2,048 (absorbed form,
    2 x 128 x (576 + 512) FLOPs a key) while the indexer scores all 100,000 (2 x 64 x 128 a
    key), in 61 layers; its key (128 values) is cached beside the latent (576)."""
    r = params("deepseek-v3.2", context=100_000)
    assert r["flops"]["decode"]["attention"] == 61 * (2 * 128 * 1088 * 2048 + 2 * 64 * 128 * 100_000)
    assert r["kv_cache"]["elements_per_token_per_layer"] == 576 + 128


def test_zero_experts_make_active_a_range():
    """LongCat-Flash: 12 of 512 + 256 slots, so 12 x 512/768 = 8 real experts on average, 0 to 12
    in all; a routed expert is 3 x 6,144 x 2,048 in 28 MoE layers. Without the input embedding
    that is 18.7B, 27.1B and 31.4B: Meituan's "18.6B-31.3B activated, about 27B on average"."""
    p = params("longcat-flash-chat")["params"]
    expert = 3 * 6144 * 2048
    assert p["active_by_component"]["routed_experts"] == 28 * 8 * expert
    lo, hi = p["active_range"]
    assert (p["active"] - lo, hi - p["active"]) == (28 * 8 * expert, 28 * 4 * expert)
    no_embedding = [x - p["embedding"] for x in (lo, p["active"], hi)]
    assert [round(x / 1e8) / 10 for x in no_embedding] == [18.7, 27.1, 31.4]
    assert abs(no_embedding[0] - 18.6e9) < 0.15e9 and abs(no_embedding[2] - 31.3e9) < 0.15e9


def test_quantization_configs():
    """Kimi K2.5: compressed-tensors int4 in groups of 32 on the routed experts only (its ignore
    list keeps attention, shared experts and dense MLPs in bf16): 4 + 16/32 bits a value."""
    r = params("kimi-k2.5")
    assert r["weights"]["dtype"] == "int4-g32" and r["weights"]["quantized_components"] == ["routed_experts"]
    experts = r["params"]["by_component"]["routed_experts"]
    assert r["weights"]["by_component"]["routed_experts"] == pytest.approx(experts * 4.5 / 8)


MORE = Path(__file__).parent / "data" / "configs" / "more"


@pytest.mark.parametrize("stem, total, active", [
    ("glm-5", 744e9, 40e9),                  # GLM-5: 744B total, 40B active (DSA, 78 layers)
    ("qwen3.5-397b-a17b", 397e9, 17e9),      # Qwen3.5-397B-A17B
    ("glm-4.7", 355e9, 32e9),                # GLM-4.5/4.6/4.7: 355B (its MTP layer included), 32B
])
def test_siblings_against_their_published_totals(stem, total, active):
    """Siblings of the families, from abridged or full configs, against the totals their makers
    publish (rounded to the billion; GLM-4.7's 355B also counts the 2.4B MTP layer moecalc reports
    apart, so within 1.5%); the active count under the convention that fits (without the input
    embedding for all three)."""
    spec, _ = load(str(MORE / f"{stem}.json"))
    p = estimate(spec)["params"]
    assert abs(p["total"] / total - 1) < (0.015 if stem == "glm-4.7" else 0.005)
    assert abs((p["active"] - p["embedding"]) / active - 1) < 0.05


def test_an_unknown_hybrid_block_names_its_field(tmp_path):
    """A Nemotron-H config listing its blocks (``layers_block_type``) with a kind moecalc does not
    know fails on that field, not with a traceback."""
    from moecalc.errors import MoecalcError

    config = json.loads((FAMILIES / "nemotron-3-nano-30b-a3b.json").read_text())
    n = len(config.pop("hybrid_override_pattern"))
    config["layers_block_type"] = ["mamba"] * (n - 1) + ["conv"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(MoecalcError, match="unknown block 'conv'") as err:
        load(str(path))
    assert err.value.field == "layers_block_type"
