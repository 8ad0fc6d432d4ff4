"""``--routing`` on the command line and ``moecalc route``: outputs, and every error path (one
line on stderr naming the file or option, exit 2, nothing on stdout)."""

from __future__ import annotations

import json

import pytest

from conftest import check_error, run_main


@pytest.fixture
def profile(tmp_path):
    """A measured Mixtral-style load profile: 8 experts, expert 0 hot."""
    def write(text: str, name: str = "loads.csv"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)
    return write


def test_estimate_routing_json(capsys):
    code, out, err = run_main(["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "64", "--routing", "zipf:1.2",
                               "--ep", "all", "--format", "json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["routing"]["model"] == "zipf" and r["routing"]["parameter"] == 1.2
    assert r["routing"]["straggler"] == pytest.approx(r["perf"]["expert_imbalance"])
    assert r["routing"]["straggler"] > 2
    assert r["routing"]["effective_experts"] < 100


def test_estimate_model_only_routing_section(capsys):
    code, out, _ = run_main(["estimate", "mixtral-8x7b", "--routing", "dirichlet:0.3", "--batch", "16", "-f", "json"],
                            capsys)
    r = json.loads(out)
    assert code == 0 and "deployment" not in r
    assert r["routing"]["distinct_experts_per_step"] < r["routing"]["distinct_experts_per_step_uniform"]


def test_profile_from_csv_and_yaml_give_the_same_numbers(capsys, profile):
    counts = [400, 100, 100, 100, 100, 100, 50, 50]
    csv_path = profile("expert,count\n" + "".join(f"{i},{c}\n" for i, c in enumerate(counts)))
    yaml_path = profile("counts: [" + ", ".join(map(str, counts)) + "]\n", "loads.yaml")
    results = []
    for path in (csv_path, yaml_path):
        code, out, err = run_main(["estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--routing",
                                   f"file:{path}", "-f", "json"], capsys)
        assert code == 0, err
        results.append(json.loads(out))
    assert results[0]["perf"] == results[1]["perf"]
    # expert 0 has 400/1000 = 40% of assignments: at top-2 it is in 80% of tokens
    assert results[0]["routing"]["hottest_expert_share"] == pytest.approx(0.4)


def test_route_table(capsys):
    code, out, err = run_main(["route", "deepseek-v3", "--routing", "zipf:1.2", "--tokens", "2048",
                               "--capacity-factor", "1.25"], capsys)
    assert code == 0, err
    for needle in ("Tokens per expert", "Tokens per EP rank", "Closed form vs Monte Carlo", "straggler",
                   "over capacity C=1.25", "What it costs", "TPOT", "$ per M output tokens"):
        assert needle in out


def test_route_json_with_redundant_experts(capsys):
    code, out, err = run_main(["route", "deepseek-v3", "--routing", "zipf:0.8", "--ep", "8",
                               "--redundant-experts", "32", "-f", "json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert set(r["cost"]) == {"uniform", "routed", "routed_no_redundant"}
    assert r["cost"]["routed"]["straggler"] < r["cost"]["routed_no_redundant"]["straggler"]
    assert sum(r["experts"]["counts"]) == 4096 * 8
    assert sum(r["ranks"]["slots"]) == 256 + 32


def test_route_is_reproducible_by_seed(capsys):
    outs = [run_main(["route", "qwen3-30b-a3b", "--routing", "dirichlet:0.5", "--seed", s, "-f", "json"], capsys)[1]
            for s in ("1", "1", "2")]
    assert outs[0] == outs[1] != outs[2]


def test_sweep_with_routing_prints_the_routing_in_its_command(capsys):
    code, out, err = run_main(["sweep", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2,4", "--batch", "8,64",
                               "--routing", "zipf:1", "--capacity-factor", "2", "-f", "json"], capsys)
    assert code == 0, err
    assert "--routing zipf:1 --capacity-factor 2" in json.loads(out)["top_command"]


def test_sweep_plan_routing_errors_name_the_file_and_line(capsys, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("gpu: h100\ngpus: 2\nrouting: zipf:500\n")
    code, out, err = run_main(["sweep", "mixtral-8x7b", "--sweep", plan], capsys)
    check_error(code, out, err, f"{plan}:3", "routing", "zipf exponent")


def test_compare_applies_routing_to_the_moe_only(capsys):
    code, out, err = run_main(["compare", "mixtral-8x7b", "mistral-7b", "--gpu", "h100", "--routing", "zipf:1",
                               "-f", "json"], capsys)
    assert code == 0, err
    moe, dense = json.loads(out)["models"]
    assert moe["routing"]["model"] == "zipf" and "routing" not in dense


# ---- error paths ----------------------------------------------------------------------------
BAD = [
    (["--routing", "zipf:-1"], ("--routing", "zipf exponent S must be in [0, 100]")),
    (["--routing", "zipf:101"], ("--routing", "[0, 100]")),
    (["--routing", "zipf:abc"], ("--routing", "not a number")),
    (["--routing", "zipf"], ("--routing", "needs a number")),
    (["--routing", "zipf:nan"], ("--routing", "zipf exponent")),
    (["--routing", "dirichlet:0"], ("--routing", "ALPHA must be in")),
    (["--routing", "dirichlet:-2"], ("--routing", "ALPHA must be in")),
    (["--routing", "dirichlet:inf"], ("--routing", "ALPHA must be in")),
    (["--routing", "uniform:3"], ("--routing", "takes no parameter")),
    (["--routing", "lognormal:1"], ("--routing", "expected uniform, zipf:S")),
    (["--routing", "file:"], ("--routing", "needs a path")),
    (["--capacity-factor", "0"], ("--capacity-factor", "positive")),
    (["--capacity-factor", "-1"], ("--capacity-factor", "positive")),
    (["--capacity-factor", "x"], ("--capacity-factor",)),
    (["--capacity-factor", "0.5", "--overflow", "reroute"], ("--capacity-factor", "at least 1")),
    (["--overflow", "spill"], ("--overflow", "drop, reroute")),
    (["--seed", "-1"], ("--seed",)),
    (["--seed", "1.5"], ("--seed", "whole number")),
]


@pytest.mark.parametrize("command", ["estimate", "route"])
@pytest.mark.parametrize("args, needles", BAD)
def test_bad_routing_options(capsys, command, args, needles):
    code, out, err = run_main([command, "deepseek-v3", *args], capsys)
    check_error(code, out, err, *needles)


PROFILES = [
    ("1\n2\n3\n", "loads.csv", ("loads.csv", "counts", "3 counts, but Mixtral-8x7B has 8 routed experts")),
    ("[1, 2, 3, 4, 5, 6, 7, -8]\n", "loads.yaml", ("loads.yaml", "counts", "expert 7: count -8 must be")),
    ("1\n2\n-3\n4\n5\n6\n7\n8\n", "loads.csv", ("loads.csv", "expert 2: count -3")),
    ("[1, 2, x, 4]\n", "loads.yaml", ("loads.yaml", "expert 2", "not a number")),
    ("counts: [1, 2, .nan, 4, 5, 6, 7, 8]\n", "loads.yaml", ("loads.yaml", "finite")),
    ("experts: [1, 2]\n", "loads.yaml", ("loads.yaml", "'counts'")),
    ("42\n", "loads.yaml", ("loads.yaml", "1 counts, but Mixtral-8x7B has 8")),
    ("name: x\n", "loads.yaml", ("loads.yaml", "'counts'")),
    ("[[1, 2], [3, 4]]\n", "loads.yaml", ("loads.yaml", "2 counts", "8 routed experts")),   # two layers of 2
    ("[[1, 2], [3, 4, 5]]\n", "loads.yaml", ("loads.yaml", "layers hold different expert counts")),
    ("[[1, 2], [3, x]]\n", "loads.yaml", ("loads.yaml", "layer 1, expert 1", "not a number")),
    ("0\n0\n0\n0\n0\n0\n0\n0\n", "loads.csv", ("loads.csv", "every count is 0")),
    ("5\n0\n0\n0\n0\n0\n0\n0\n", "loads.csv", ("loads.csv", "only 1 experts have load", "routes each token to 2")),
    ("90\n2\n2\n2\n1\n1\n1\n1\n", "loads.csv", ("loads.csv", "expert 0 has 90.0%", "more than one per token")),
    ("count\n1\nfoo\n", "loads.csv", ("loads.csv:3", "'foo' is not a count")),
    ("0,1\n2,3\n", "loads.csv", ("loads.csv:2", "expected 1, got 2")),
    ("1,2,3\n", "loads.csv", ("loads.csv:1", "3 columns")),
    ("", "loads.csv", ("loads.csv", "empty")),
    ("[1, 2\n", "loads.yaml", ("loads.yaml", "invalid YAML")),
]


@pytest.mark.parametrize("text, name, needles", PROFILES)
def test_bad_load_profiles(capsys, profile, text, name, needles):
    path = profile(text, name)
    code, out, err = run_main(["estimate", "mixtral-8x7b", "--routing", f"file:{path}"], capsys)
    check_error(code, out, err, *needles)


def test_missing_profile(capsys, tmp_path):
    code, out, err = run_main(["estimate", "mixtral-8x7b", "--routing", f"file:{tmp_path / 'nope.csv'}"], capsys)
    check_error(code, out, err, "nope.csv", "no such file")


def test_routing_a_dense_model(capsys):
    for command in (["estimate", "llama-3.1-8b", "--routing", "zipf:1"], ["route", "llama-3.1-8b"]):
        code, out, err = run_main(command, capsys)
        check_error(code, out, err, "Llama-3.1-8B has no routed experts")


@pytest.mark.parametrize("args, needles", [
    (["--tokens", "0"], ("--tokens", "at least 1")),
    (["--tokens", "lots"], ("--tokens", "not a count")),
    (["--tokens", "32M"], ("--tokens", "at most")),
    (["--format", "csv"], ("--format", "table, json", "csv")),
    (["--gpu", "h900"], ("h900",)),
    (["--ep", "7", "--gpus", "8"], ("--ep",)),
])
def test_route_option_errors(capsys, args, needles):
    code, out, err = run_main(["route", "deepseek-v3", *args], capsys)
    check_error(code, out, err, *needles)


def test_tables_show_the_routing(capsys):
    code, out, err = run_main(["compare", "mixtral-8x7b", "mistral-7b", "--gpu", "h100", "--routing", "zipf:1"], capsys)
    assert code == 0, err
    assert "routing" in out and "zipf:1" in out and "hottest EP rank" in out
    code, out, err = run_main(["sweep", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2,4", "--routing", "zipf:1"], capsys)
    assert code == 0, err
    assert "routing: zipf:1" in out and "--routing zipf:1" in out
    code, out, err = run_main(["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "8"], capsys)
    assert code == 0, err
    assert "routing: uniform, group-limited to 4 of 8 expert groups per token" in out


def test_load_fluctuation_is_an_assumption(capsys):
    outs = []
    for value in ("true", "false"):
        code, out, err = run_main(["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "1", "--ep", "all",
                                   "--assume", f"load_fluctuation={value}", "-f", "json"], capsys)
        assert code == 0, err
        outs.append(json.loads(out))
    on, off = outs
    assert on["assumptions"]["load_fluctuation"] is True and off["assumptions"]["load_fluctuation"] is False
    assert on["perf"]["tpot_seconds"] > off["perf"]["tpot_seconds"]
    code, out, err = run_main(["estimate", "deepseek-v3", "--gpu", "h200", "--assume", "load_fluctuation=maybe"], capsys)
    check_error(code, out, err, "load_fluctuation", "true or false")
