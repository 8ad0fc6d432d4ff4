"""Every bundled spec loads, equals the import of its real config, and agrees with its published totals."""

from __future__ import annotations

import json

import pytest

from moecalc.estimate import estimate
from moecalc.convert import import_config
from moecalc.spec.load import bundled_specs, load, load_spec_text
from moecalc.spec.model import ArchitectureSpec, json_schema
from moecalc.spec.yaml_io import parse_yaml

from conftest import CONFIGS, SUMMARY

BUNDLED = sorted(bundled_specs())


def test_at_least_twelve_real_models():
    assert len(BUNDLED) >= 12
    for required in ("deepseek-v3", "deepseek-v2-lite", "mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-20b",
                     "llama-3.1-8b"):
        assert required in BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_spec(name):
    spec, label = load(name)
    assert isinstance(spec, ArchitectureSpec)            # architecture form, counts derived
    assert spec.source and spec.source.startswith("https://huggingface.co/")
    assert spec.stated is not None and spec.stated.source
    r = estimate(spec, label=label)
    assert r["warnings"] == []                            # within tolerance of the published totals
    p = r["params"]
    assert sum(p["by_component"].values()) == p["total"]
    assert p["active"] <= p["total"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_spec_is_the_import_of_its_config(name):
    """model_specs/NAME.yaml == `moecalc import tests/data/configs/[families/|more/]NAME.json` + name,
    source, stated."""
    bundled = load(name)[0].model_dump()
    config = next(p for p in (CONFIGS / f"{name}.json", CONFIGS / "families" / f"{name}.json",
                              CONFIGS / "more" / f"{name}.json") if p.exists())
    imported = load_spec_text(import_config(str(config)), "import")
    for key in ("name", "source", "stated"):
        bundled.pop(key)
    got = imported.model_dump()
    for key in ("name", "source", "stated"):
        got.pop(key)
    assert got == bundled


def test_names_are_case_insensitive():
    assert load("DeepSeek-V3")[0].name == load("deepseek-v3")[0].name


def test_import_round_trips_every_config(tmp_path):
    for config in sorted(CONFIGS.glob("*.json")):
        text = import_config(str(config))
        direct = estimate(load(str(config))[0])["params"]
        via_yaml = estimate(load_spec_text(text, "x"))["params"]
        assert direct == via_yaml, config.name


def test_yaml_exponent_floats():
    """YAML 1.1 reads 671e9 as a string; the loader reads it as a number, like YAML 1.2."""
    data, _ = parse_yaml("a: 671e9\nb: 1.5e-3\nc: '1e3'\n", "x")
    assert data == {"a": 671e9, "b": 1.5e-3, "c": "1e3"}


def test_summary_form():
    """A model known only by its totals: 100B total, 10B active, 64 experts, top 4, 32 layers."""
    r = estimate(load_spec_text(SUMMARY, "s.yaml"))
    p = r["params"]
    assert p["total"] == 100e9 and p["active"] == 10e9
    assert p["by_component"]["routed_experts"] == 96e9           # 90e9 * 64/60
    assert p["embedding"] == 32000 * 4096
    assert r["kv_cache"]["bytes_per_token"] == 2 * 8 * 128 * 2 * 32
    assert r["flops"]["decode"]["matmul"] == 2 * (10e9 - 32000 * 4096)


def test_stated_mismatch_warns():
    """An architecture spec stating a total 10% off the derived count gets a visible warning."""
    spec = load("mixtral-8x7b")[0].model_copy(deep=True)
    spec.stated.total_params = 51e9
    warnings = estimate(spec)["warnings"]
    assert len(warnings) == 1 and "total" in warnings[0] and "+" not in warnings[0].split("by")[1][:2]


def test_schema_is_json_schema():
    schema = json_schema()
    text = json.dumps(schema)
    assert "ArchitectureSpec" in text and "SummarySpec" in text and "kv_lora_rank" in text


def test_summary_form_serves_on_gpus():
    """The summary form's components (non_expert split by TP, routed experts by EP) deploy too:
    100B in bf16 = 200 GB of weights over EP8/TP8 on H200: routed 192 GB / 8 + the rest / 8."""
    from moecalc.deployment import Deployment

    r = estimate(load_spec_text(SUMMARY, "s.yaml"), deployment=Deployment(gpu="h200", gpus=8))
    per = r["memory"]["per_gpu"]["weights_by_component"]
    assert per["routed_experts"] == pytest.approx(2 * 96e9 / 8)
    assert per["non_expert"] == pytest.approx(r["weights"]["by_component"]["non_expert"] / 8)
    assert r["memory"]["per_gpu"]["weights_bytes"] == pytest.approx(200e9 / 8)
    assert r["memory"]["fits"] and r["perf"]["tpot_seconds"] > 0


def test_numbers_are_kept_by_the_specs_content():
    """``numbers()`` is computed once per distinct spec: the same content gives the same object,
    an edited copy its own numbers, and the original keeps its own. 64 experts instead of 8 add
    56 experts and 56 router rows of hidden_size (4,096) on each of the 32 layers."""
    from moecalc.spec.load import load

    spec, _ = load("mixtral-8x7b")
    again, _ = load("mixtral-8x7b")
    assert spec.numbers() is again.numbers()
    edited = spec.model_copy(update={"moe": spec.moe.model_copy(update={"num_experts": 64})})
    assert edited.numbers().num_experts == 64 and spec.numbers().num_experts == 8
    per_expert = spec.numbers().params.per_expert
    added = edited.numbers().params.total - spec.numbers().params.total
    assert added == 56 * (per_expert + spec.hidden_size) * spec.num_layers == 315_687_436_288
    with pytest.raises(ValueError):                 # shared, so not writable in place
        spec.numbers().attention[0].count[0] = 1
