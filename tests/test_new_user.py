"""Issue 21: the details a new user trips on. Each test failed before its fix."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from moecalc.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def js(*args: str) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- context beyond the model ------------------------------------------------------------------

def test_context_past_max_position_embeddings_warns():
    """Llama 3.1's config: max_position_embeddings 131,072 (llama3 rope scaling x8 over 8,192)."""
    out = js("estimate", "llama-3.1-8b", "--context", "1M")
    assert any("max_position_embeddings 131,072" in w and "llama3 x8 over 8,192" in w for w in out["warnings"])
    assert not any("max_position_embeddings" in w for w in js("estimate", "llama-3.1-8b", "--context", "128k")
                   ["warnings"])          # 131,072 exactly is allowed


def test_request_lengths_count_prompt_plus_output():
    out = js("estimate", "qwen3-30b-a3b", "--gpu", "h100", "--isl", "40000", "--osl", "2000")
    assert any("--isl + --osl 42,000" in w and "40,960" in w for w in out["warnings"])


def test_sweep_and_train_warn_once():
    result = run("sweep", "qwen3-30b-a3b", "--gpu", "h100", "--gpus", "1,2", "--batch", "1", "--context", "4k,64k",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["summary"]["warnings"]) == 1
    assert result.stderr.count("max_position_embeddings") == 1
    out = js("train", "mixtral-8x7b", "--tokens", "1T", "--gpu", "h100", "--gpus", "64", "--seq-len", "64k")
    assert any("--seq-len 65,536" in w for w in out["warnings"])


def test_import_carries_the_context_limit(tmp_path):
    from moecalc.spec.hf_import import spec_dict_from_config

    cfg = json.loads((pytest.importorskip("pathlib").Path(__file__).parent / "data" / "configs" /
                      "deepseek-v3.json").read_text())
    spec = spec_dict_from_config(cfg, "config.json")
    assert spec["max_position_embeddings"] == 163840 and spec["rope_scaling"] == "yarn x40 over 4,096"
    del cfg["max_position_embeddings"]
    assert "max_position_embeddings" not in spec_dict_from_config(cfg, "config.json")


# --- the expert-parallel convention ------------------------------------------------------------

def test_default_follows_vllm_experts_split_by_tp():
    d = js("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2")["deployment"]
    assert (d["tp"], d["ep"], d["expert_tp"]) == (2, 1, 2)
    assert "vLLM" in d["expert_sharding"]
    assert d["serving_flags"] == {"vllm": "-tp 2", "sglang": "--tp 2", "trtllm": "--tp_size 2 --ep_size 1"}


def test_ep_all_is_vllms_enable_expert_parallel():
    d = js("estimate", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--tp", "1", "--ep", "all")["deployment"]
    assert (d["tp"], d["dp"], d["ep"], d["expert_tp"]) == (1, 16, 16, 1)
    assert d["serving_flags"]["vllm"] == "-tp 1 -dp 16 --enable-expert-parallel"
    assert d["serving_flags"]["sglang"] == "--tp 16 --dp 16 --enable-dp-attention --ep 16"
    assert d["serving_flags"]["trtllm"] == "--tp_size 16 --ep_size 16 + enable_attention_dp"


def test_an_ep_vllm_cannot_run_says_so():
    d = js("estimate", "deepseek-v3", "--gpu", "h200", "--gpus", "16", "--ep", "4")["deployment"]
    assert d["serving_flags"]["vllm"].startswith("cannot")
    assert d["serving_flags"]["sglang"] == "--tp 16 --dp 2 --enable-dp-attention --ep 4"


def test_sweep_default_tries_both_conventions():
    out = js("sweep", "mixtral-8x7b", "--gpu", "h100", "--gpus", "4", "--tp", "4", "--batch", "8")
    assert {r["deployment"]["ep"] for r in out["top"]} == {1, 4}
    assert out["summary"]["layouts"] == 2


def test_route_keeps_expert_parallel_by_default():
    """Per-rank load is what route shows: EP over the stage unless --ep says otherwise."""
    out = js("route", "qwen3-30b-a3b", "--gpu", "h100", "--gpus", "8")
    assert out["ep"] == 8


# --- conventions on screen ---------------------------------------------------------------------

def test_card_active_beside_ours():
    """gpt-oss-20b: 4.19B active by our definition; its card's 3.61B leaves out the input embedding."""
    out = js("estimate", "gpt-oss-20b")
    card = out["params"]["card_active"]
    assert card["convention"] == "without the input embedding"
    assert card["derived"] == out["params"]["active"] - out["params"]["embedding"]
    assert out["params"]["active"] == 4187440704                     # the definition is unchanged
    screen = run("estimate", "gpt-oss-20b").stdout
    assert "3.61 B" in screen and "without the input embedding" in screen


def test_capacity_label_is_not_called_gib():
    screen = run("estimate", "mixtral-8x7b", "--gpu", "h200").stdout
    assert "vendor GB label:" not in screen and "(vendor label; = 131.32 GiB)" in screen


def test_compare_says_output_tokens():
    screen = " ".join(run("compare", "mixtral-8x7b", "llama-3.1-8b", "--gpu", "h100").stdout.split())
    assert "$ per million output tokens" in screen and "$ per million tokens" not in screen


# --- errors that blame what the user did not type ------------------------------------------------

def test_six_gpus_without_a_tp_gets_a_layout_that_matches():
    d = js("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "6")["deployment"]
    assert (d["tp"], d["dp"], d["pp"]) == (2, 3, 1)


def test_a_given_tp_that_does_not_divide_names_it():
    result = run("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "6", "--tp", "4")
    assert result.exit_code == 2 and "--gpus 6 is not a multiple of tp x pp = 4 x 1" in result.stderr


def test_default_search_tries_pipeline_stages():
    """Kimi K2's equal-total dense twin (1.03T, 2 TB bf16... fp8 1 TB) fits 16 x H200 only with PP."""
    out = js("compare", "kimi-k2", "--dense-equivalents", "--gpu", "h200")
    twin = out["models"][1]["deployment"]
    assert twin["gpus"] == 16 and twin["pp"] == 2 and "PP2" in twin["layout_chosen"]


def test_a_failing_twin_is_named():
    result = run("compare", "kimi-k2", "--dense-equivalents", "--gpu", "l4", "--context", "128k", "--batch", "64")
    assert result.exit_code == 2 and "dense-total" in result.stderr and len(result.stderr.splitlines()) == 1


def test_compare_renders_a_model_that_does_not_fit():
    result = run("compare", "kimi-k2", "--dense-equivalents", "--gpu", "h100", "--gpus", "8")
    assert result.exit_code == 0, result.stderr
    assert "does not fit" in result.stdout


@pytest.mark.parametrize("typed, expected", [("mixtral", "mixtral-8x7b"), ("deepseek-v4", "deepseek-v3"),
                                             ("llama3", "llama-3.1-8b"), ("gpt-oss", "gpt-oss-20b")])
def test_unknown_bundled_name_gets_the_closest(typed, expected):
    result = run("estimate", typed)
    assert result.exit_code == 2 and "closest:" in result.stderr and expected in result.stderr


# --- per-layer load files ----------------------------------------------------------------------

def _layers(tmp_path, n_layers=4, experts=128):
    """Layer j's hot expert is j (10% of its load, near top-8's limit of 12.5%), the rest even:
    pooled over four layers, each hot expert holds a quarter of that."""
    rows = []
    for j in range(n_layers):
        row = [1.0] * experts
        row[j] = 0.1 / 0.9 * (experts - 1)
        rows.append(row)
    path = tmp_path / "eplb.json"
    path.write_text(json.dumps(rows))
    return path, rows


def test_per_layer_counts_pool_to_the_layers_mean(tmp_path):
    from moecalc.load_profile import read_profile

    path, rows = _layers(tmp_path)
    pooled, layers = read_profile(str(path))
    assert len(layers) == 4
    # each layer's law has share 0.1 on its hot expert, 0.9/127 elsewhere; the mean of four laws
    assert pooled[0] == pytest.approx((0.1 + 3 * 0.9 / 127) / 4)
    assert pooled[5] == pytest.approx(0.9 / 127)
    one, _ = read_profile(str(path), layer=2)
    assert one == rows[2]


def test_per_layer_file_is_accepted_and_the_flattening_reported(tmp_path):
    path, _ = _layers(tmp_path)
    result = run("route", "qwen3-30b-a3b", "--routing", f"file:{path}", "--format", "json")
    assert result.exit_code == 0, result.stderr
    prof = json.loads(result.stdout)["routing"]["profile_layers"]
    # a layer's hottest expert: 0.1 / (1/128) = 12.8x the mean; pooled: (0.1 + 3 x 0.9/127) / 4 x 128 = 3.88x
    assert prof["layers"] == 4 and prof["per_layer_hottest_x_mean"]["median"] == pytest.approx(12.8)
    assert prof["pooled_hottest_x_mean"] == pytest.approx((0.1 + 3 * 0.9 / 127) / 4 * 128)
    assert "understates each layer's straggler" in result.stderr
    one = run("route", "qwen3-30b-a3b", "--routing", f"file:{path}#1", "--format", "json")
    assert one.exit_code == 0 and json.loads(one.stdout)["routing"]["profile_layers"]["layer"] == 1
    bad = run("route", "qwen3-30b-a3b", "--routing", f"file:{path}#9")
    assert bad.exit_code == 2 and "holds 4 layers" in bad.stderr


# --- a close call between GPU types --------------------------------------------------------------

def test_a_close_call_names_the_terms_that_decide_it():
    out = js("sweep", "deepseek-v3", "--gpu", "h200,b200", "--gpus", "8", "--tp", "8", "--ep", "1", "--batch", "1",
             "--objective", "latency")
    cc = out["summary"]["close_call"]
    assert cc is not None and abs(cc["gap"]) <= 0.05 and set(cc["gpus"]) == {"h200", "b200"}
    for side in ("for_first", "against_first"):
        t = cc[side]
        assert t is None or t["term"] in ("compute_seconds", "memory_seconds", "comm_seconds", "overhead_seconds")
    # the leader is the faster row, and each named term really favours its side
    first = next(r for r in out["top"] if r["deployment"]["gpu"] == cc["gpus"][0])["perf"]
    second = next(r for r in out["top"] if r["deployment"]["gpu"] == cc["gpus"][1])["perf"]
    assert first["tpot_seconds"] <= second["tpot_seconds"] and cc["gap"] >= 0
    if cc["for_first"]:
        t = cc["for_first"]["term"]
        assert first["decode"][t] < second["decode"][t]
    if cc["against_first"]:
        t = cc["against_first"]["term"]
        assert first["decode"][t] > second["decode"][t]


def test_no_close_call_when_one_gpu_wins_clearly():
    out = js("sweep", "deepseek-v3", "--gpu", "h200,l40s", "--gpus", "8,16,32", "--batch", "1", "--objective", "latency")
    assert out["summary"]["close_call"] is None


# --- CSV: one shape ------------------------------------------------------------------------------

def test_estimate_csv_is_one_row_of_typed_columns():
    rows = list(csv.DictReader(io.StringIO(run("estimate", "mixtral-8x7b", "--format", "csv").stdout)))
    assert len(rows) == 1 and float(rows[0]["params.total"]) == 46702792704


def test_sweep_rows_use_the_json_names(tmp_path):
    out = tmp_path / "rows.csv"
    result = run("sweep", "qwen3-30b-a3b", "--gpu", "h100", "--gpus", "1,2", "--batch", "1", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    header = out.read_text().splitlines()[0].split(",")
    assert "capacity_per_gpu_bytes" in header and "capacity_bytes" not in header


# --- found in review ------------------------------------------------------------------------------

def test_yarn_added_to_a_config_extends_what_vllm_serves():
    """A Qwen-style config: max_position_embeddings 32,768 with yarn x4 over 32,768 is served to
    131,072 by vLLM's rule (original x factor), so 100K does not warn and 200K does."""
    from moecalc.spec.hf_import import ConfigReader, context_limit

    lim = context_limit(ConfigReader({"max_position_embeddings": 32768, "rope_scaling": {
        "type": "yarn", "factor": 4, "original_max_position_embeddings": 32768}}, "c"))
    assert lim["max_model_len"] == 131072
    linear = context_limit(ConfigReader({"max_position_embeddings": 4096, "rope_scaling": {"type": "linear",
                                                                                          "factor": 2}}, "c"))
    assert linear["max_model_len"] == 8192


@pytest.mark.parametrize("value", [0, -1, "32768", 1.5, None, 2**40])
def test_malformed_max_position_embeddings_is_ignored(value):
    """Metadata only: a config that loaded before still loads."""
    from moecalc.spec.hf_import import ConfigReader, context_limit

    assert context_limit(ConfigReader({"max_position_embeddings": value}, "c")) == {}


def test_training_past_the_limit_is_a_context_extension():
    out = js("train", "mixtral-8x7b", "--tokens", "1T", "--gpu", "h100", "--gpus", "64", "--seq-len", "64k")
    assert any("context extension" in w and "vLLM" not in w for w in out["warnings"])


def test_ep1_with_dp_pays_the_gather_over_the_stage():
    """Mixtral on 2 x H100, TP1 x DP2, EP1 (each expert split over both GPUs), batch 8: every MoE
    layer gathers the 8 tokens' hidden states and reduce-scatters them back, one all-reduce of
    8 x 4,096 x 2 B = 65,536 B over 2 GPUs: 2 (1/2) 65,536 / (450e9 x 0.7) + 7 us = 7.208 us;
    x 32 layers = 230.66 us (no TP all-reduce at TP1, no all-to-all at EP1)."""
    out = js("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--tp", "1", "--batch", "8")
    assert out["deployment"]["dp"] == 2 and out["deployment"]["ep"] == 1
    assert out["perf"]["decode"]["comm_seconds"] == pytest.approx(32 * (65536 / (450e9 * 0.7) + 7e-6), rel=1e-9)


def test_redundant_experts_need_expert_parallelism():
    bad = run("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--redundant-experts", "8")
    assert bad.exit_code == 2 and "--ep N or --ep all" in bad.stderr
    ok = js("estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--redundant-experts", "2", "--ep", "all")
    assert ok["deployment"]["serving_flags"]["sglang"] == "--tp 2 --ep 2 --ep-num-redundant-experts 2"
    assert "--enable-eplb" in ok["deployment"]["serving_flags"]["vllm"]


def test_dense_replicas_are_independent_servers():
    d = js("estimate", "llama-3.1-8b", "--gpu", "h100", "--gpus", "16", "--tp", "8")["deployment"]
    assert d["serving_flags"] == {"vllm": "-tp 8 -dp 2", "sglang": "--tp 8 --dp 2",
                                  "trtllm": "--tp_size 8 (2 instances)"}


def test_a_layer_suffix_is_ascii_digits_and_a_real_file_wins(tmp_path):
    path, _ = _layers(tmp_path)
    odd = run("route", "qwen3-30b-a3b", "--routing", f"file:{path}#\u00b2")
    assert odd.exit_code == 2 and len(odd.stderr.splitlines()) == 1
    named = tmp_path / "run#3"
    named.write_text(json.dumps([1.0] * 128))
    out = js("route", "qwen3-30b-a3b", "--routing", f"file:{named}")
    assert out["routing"]["file"] == str(named) and out["routing"]["profile_layers"]["layer"] is None


def test_a_scaled_trace_leaves_unchosen_experts_untouched():
    """An expert with a 1e-9 share is expected 0.017 of 16.7M tokens: a Poisson count, not a
    Gaussian one clipped at 0, so it stays untouched (as drawing every token would leave it)."""
    import numpy as np

    from moecalc.engine.routing.law import solve
    from moecalc.trace import expert_counts

    pi = np.full(64, 1e-9)
    pi[:8] = 1.0 - 7 * 1e-9 / 8 * 56 / 7        # 8 near-certain experts, the rest almost never
    pi = pi / pi.sum() * 8
    counts, touched = expert_counts(solve(pi), 1 << 24, np.random.default_rng(1))
    assert touched[:8].all() and touched[8:].sum() <= 2


def test_the_library_trace_keeps_expert_parallelism():
    from moecalc.routers import parse_routing
    from moecalc.spec.load import load
    from moecalc.trace import trace

    from moecalc.deployment import Deployment

    spec = load("qwen3-30b-a3b", True)[0]
    assert trace(spec, parse_routing("zipf:1.2"), deployment=Deployment(gpu="h200", gpus=8))["ep"] == 8
    out = trace(spec, parse_routing("zipf:1.2"))            # the default search names no --ep it added
    assert "--ep" not in out["deployment"]["layout_chosen"]
