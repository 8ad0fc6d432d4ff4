"""``moecalc compare`` and the dense twins of an MoE model."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from conftest import SUMMARY, check_result
from moecalc.cli import app
from moecalc.compare import compare, dense_twin
from moecalc.deployment import Deployment
from moecalc.errors import MoecalcError
from moecalc.estimate import Workload, estimate
from moecalc.spec.load import load, load_spec_text

runner = CliRunner()


def test_deepseek_v3_twins_meet_the_issue_tolerances():
    """Memory twin: total within 1% of 671B and weight bytes within 1% of the MoE's; compute
    twin: decode FLOPs per token within 5% of the MoE's (same attention, same active matmuls)."""
    spec, _ = load("deepseek-v3")
    moe = estimate(spec)
    memory, _ = dense_twin(spec, "total")
    compute, how = dense_twin(spec, "active")
    m, c = estimate(memory), estimate(compute)
    assert m["params"]["total"] == pytest.approx(671e9, rel=0.01)
    assert m["weights"]["bytes"] == pytest.approx(moe["weights"]["bytes"], rel=0.01)
    assert c["flops"]["decode_per_token"] == pytest.approx(moe["flops"]["decode_per_token"], rel=0.05)
    # the width is solved exactly: off by less than one FFN column (3 x hidden per layer)
    assert abs(m["params"]["total"] - moe["params"]["total"]) <= 61 * 3 * 7168
    assert abs(c["params"]["total"] - moe["params"]["active"]) <= 61 * 3 * 7168
    assert m["params"]["active"] == m["params"]["total"] and "width" in how


def test_twin_width_by_hand(tiny):
    """Tiny: h = 64, 2 layers, gated FFN: one unit of width adds 2 x 3 x 64 = 384 parameters, so
    the solved twin lands within 384 / 2 of the MoE's total, and one unit more moves it by 384."""
    moe_total = estimate(tiny)["params"]["total"]
    twin, _ = dense_twin(tiny, "total")
    total = estimate(twin)["params"]["total"]
    assert abs(total - moe_total) <= 192
    wider = twin.model_copy(update={"ffn": twin.ffn.model_copy(
        update={"intermediate_size": twin.ffn.intermediate_size + 1})})
    assert estimate(wider)["params"]["total"] - total == 384


def test_twins_need_an_moe_architecture():
    dense, _ = load("llama-3.1-8b")
    with pytest.raises(MoecalcError, match="already dense"):
        dense_twin(dense, "total")
    summary = load_spec_text(SUMMARY, "s.yaml")
    with pytest.raises(MoecalcError, match="architecture spec"):
        dense_twin(summary, "total")


def test_compare_kinds_ratios_and_verdicts():
    r = compare([load("mixtral-8x7b"), load("llama-3.1-70b")], Workload(batch=8), dense_equivalents=True,
                deployment=Deployment(gpu="h100"))
    kinds = [m["kind"] for m in r["models"]]
    assert kinds == ["moe", "dense-equal-total", "dense-equal-active", "dense"]
    first = r["models"][0]
    assert all(v == pytest.approx(1.0) for v in first["ratios"].values())
    llama = r["models"][3]
    assert llama["ratios"]["params_total"] == pytest.approx(llama["params"]["total"] / first["params"]["total"])
    assert "compute twin" in first["verdict"] and first["verdict"].startswith("Mixtral-8x7B: memory of a 46.70 B")
    assert all(m["deployment"]["gpu"] == "h100" for m in r["models"])
    assert r["models"][2]["deployment"]["ep"] == 1           # dense twins take no expert parallelism


def test_mla_vs_gqa_cache_growth():
    """DeepSeek-V3's 70,272 B/token MLA cache against Llama-3.1-70B's 327,680 B/token GQA cache."""
    r = compare([load("deepseek-v3"), load("llama-3.1-70b")])
    ds, llama = r["models"]
    assert ds["kv_cache_by_context"]["131072"] == 70272 * 131072
    assert llama["kv_cache_by_context"]["4096"] == 2 * 8 * 128 * 80 * 2 * 4096


def test_cli_table_json_and_csv():
    table = runner.invoke(app, ["compare", "deepseek-v3", "kimi-k2", "--gpu", "h200"], env={"COLUMNS": "140"})
    assert table.exit_code == 0, table.stderr
    for phrase in ("Side by side", "Weight memory", "Decode FLOPs per token", "KV cache of one sequence",
                   "memory of a", "$ per million output tokens"):
        assert phrase in table.stdout
    out = json.loads(runner.invoke(app, ["compare", "deepseek-v3", "-d", "--format", "json"]).stdout)
    assert [m["kind"] for m in out["models"]] == ["moe", "dense-equal-total", "dense-equal-active"]
    for m in out["models"]:
        for key in ("name", "kind", "params", "weights", "kv_cache", "flops", "memory", "workload"):
            assert key in m
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["compare", "mixtral-8x7b", "-d", "--format",
                                                                "csv"]).stdout)))
    assert [r["kind"] for r in rows] == ["moe", "dense-equal-total", "dense-equal-active"]


@pytest.mark.parametrize("args,needle", [
    (["compare", "mixtral-8x7b", "--gpus", "2"], "'--gpu'"),
    (["compare", "mixtral-8x7b", "--gpu", "h1000"], "closest"),
    (["compare", "nosuch-model"], "nosuch-model"),
    (["compare", "llama-3.1-8b", "--gpu", "h100", "--gpus", "3", "--tp", "2"], "'--gpus'"),
    (["compare", "mixtral-8x7b", "--context", "0"], "'--context'"),
    (["compare", "mixtral-8x7b", "--format", "xml"], "'--format'"),
])
def test_cli_errors(args, needle):
    check_result(runner.invoke(app, args), needle)
