"""``moecalc sweep`` from the command line: option and plan-file errors, ``--output``, the
nothing-feasible report, and the shape of the json / csv / table outputs.

Errors follow the contract of tests/test_cli_errors.py: exit code 2, exactly ONE stderr line
starting ``moecalc: error: `` that names the option (or the plan file, line and field) and what is
wrong; nothing on stdout; no traceback. Every sweep here is small (tens of configurations) so the
whole file runs in a few seconds.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import check_error, check_result, run_main
from moecalc.cli import app
from moecalc.errors import MoecalcError

runner = CliRunner()

MODEL = "mixtral-8x7b"
# 2 GPU types x 3 counts x tp 1,2,4,8 (the default) x batch 1,8 x one context, each layout with
# the default EP axis (1 and all: two where a stage has more than one GPU, one for 1 GPU at TP1):
# (1 + 11 x 2) layouts x 2 GPU types x 2 batches = 92 configurations.
AXES = ["--gpu", "h100,h200", "--gpus", "1,2,4", "--batch", "1,8", "--context", "4k"]
AXES_CONFIGS = 92

ROW_COLUMNS = ["gpu", "gpus", "tp", "ep", "dp", "pp", "batch", "context", "weights_dtype", "kv_dtype",
               "per_gpu_bytes", "tpot_seconds", "usd_per_million_output_tokens", "bound"]

# A plan using lists, a range string and a k-suffixed size; lines: 1 gpu, 2 gpus, 3 batch,
# 4 context, 5 objective, 6 top.
PLAN = """\
gpu: [h100, h200]
gpus: "1..4"
batch: [1, 8]
context: 4k
objective: latency
top: 3
"""


# --------------------------------------------------------------------------- helpers


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def sweep(*args):
    return invoke("sweep", *args)


def small(*extra):
    """The small sweep, with extra options (an axis given again replaces the small one: an option
    typed twice is an error)."""
    axes = dict(zip(AXES[::2], AXES[1::2]))
    rest, extra = [], [str(e) for e in extra]
    i = 0
    while i < len(extra):
        if extra[i] in axes and i + 1 < len(extra):
            axes[extra[i]] = extra[i + 1]
            i += 2
        else:
            rest.append(extra[i])
            i += 1
    return sweep(MODEL, *[t for pair in axes.items() for t in pair], *rest)


def check_ok(result) -> None:
    assert result.exit_code == 0, f"exit code {result.exit_code}: {result.stderr!r} {result.exception!r}"


def as_json(result) -> dict:
    check_ok(result)
    return json.loads(result.stdout)


def write(tmp_path: Path, content: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def perturb(old: str, new: str, text: str = PLAN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def small_json() -> dict:
    """``--format json`` of the small sweep, run once."""
    return as_json(small("--format", "json"))


def test_small_sweep_runs(small_json):
    """The sweep every error case below perturbs is valid, so each error comes from the perturbation."""
    assert small_json["summary"]["configs_enumerated"] == AXES_CONFIGS
    assert 0 < small_json["summary"]["feasible"] <= AXES_CONFIGS
    assert small_json["top"]


# --------------------------------------------------------------------------- bad option values

OPTION_CASES = [
    # id, options, needles
    ("gpus-empty", ["--gpus", ""], ["'--gpus'", "is empty"]),
    ("gpus-range-produces-nothing", ["--gpus", "8..4"], ["'--gpus'", "'8..4'", "produces no values"]),
    ("gpus-range-start-not-power-of-two", ["--gpus", "3..8"], ["'--gpus'", "'3..8'", "power of two"]),
    ("gpus-not-start-stop-step", ["--gpus", "1:2"], ["'--gpus'", "'1:2'", "start:stop:step"]),
    ("gpus-zero", ["--gpus", "0"], ["'--gpus'", "at least 1"]),
    ("gpus-not-a-count", ["--gpus", "abc"], ["'--gpus'", "'abc'", "not a count"]),
    ("gpus-fraction", ["--gpus", "1.5"], ["'--gpus'", "not a whole number"]),
    ("batch-descending-step-range", ["--batch", "5:1:1"], ["'--batch'", "'5:1:1'", "produces no values"]),
    ("batch-zero-step", ["--batch", "1:8:0"], ["'--batch'", "at least 1"]),
    ("context-empty", ["--context", ""], ["'--context'", "is empty"]),
    ("tp-zero", ["--tp", "0"], ["'--tp'", "at least 1"]),
    ("pp-zero", ["--pp", "0"], ["'--pp'", "at least 1"]),
    ("dp-zero", ["--dp", "0"], ["'--dp'", "at least 1"]),
    ("ep-zero", ["--ep", "0"], ["'--ep'", "at least 1"]),
    ("gpus-per-node-zero", ["--gpus-per-node", "0"], ["'--gpus-per-node'", "at least 1"]),
    ("gpu-blank", ["--gpu", "  "], ["'--gpu'", "is empty"]),
    ("gpu-only-commas", ["--gpu", ","], ["'--gpu'", "is empty"]),
    ("weights-dtype-unknown", ["--weights-dtype", "fp7"], ["'--weights-dtype'", "unknown dtype 'fp7'", "bf16"]),
    ("weights-dtype-empty", ["--weights-dtype", ""], ["'--weights-dtype'", "is empty"]),
    ("kv-dtype-unknown", ["--kv-dtype", "int3"], ["'--kv-dtype'", "unknown dtype 'int3'", "fp8"]),
    ("objective-unknown", ["--objective", "speed"], ["'--objective'", "'speed'", "cost, throughput, latency"]),
    ("max-tpot-zero", ["--max-tpot-ms", "0"], ["'--max-tpot-ms'", "positive"]),
    ("max-tpot-negative", ["--max-tpot-ms", "-5"], ["'--max-tpot-ms'", "positive", "'-5'"]),
    ("max-tpot-not-a-number", ["--max-tpot-ms", "abc"], ["'--max-tpot-ms'", "'abc'", "not a number"]),
    ("max-tpot-overflows", ["--max-tpot-ms", "1e400"], ["'--max-tpot-ms'", "positive"]),
    ("max-ttft-zero", ["--max-ttft-ms", "0"], ["'--max-ttft-ms'", "positive"]),
    ("min-tokens-nan", ["--min-tokens-per-s", "nan"], ["'--min-tokens-per-s'", "positive", "'nan'"]),
    ("budget-inf", ["--budget-usd-per-hour", "inf"], ["'--budget-usd-per-hour'", "positive", "'inf'"]),
    ("top-zero", ["--top", "0"], ["'--top'", "at least 1"]),
    ("top-not-a-count", ["--top", "abc"], ["'--top'", "not a count"]),
    ("redundant-experts-negative", ["--redundant-experts", "-1"], ["'--redundant-experts'", "at least 0"]),
    ("max-nodes-per-token-zero", ["--max-nodes-per-token", "0"], ["'--max-nodes-per-token'", "at least 1"]),
    ("scale-out-is-scale-up-link", ["--scale-out", "nvlink4"], ["'--scale-out'", "'nvlink4'", "scale-up"]),
    ("scale-out-unknown", ["--scale-out", "nosuch"], ["'--scale-out'", "unknown interconnect 'nosuch'"]),
    ("price-negative", ["--price-per-hour", "-1"], ["'--price-per-hour'", "positive"]),
    ("price-not-a-number", ["--price-per-hour", "abc"], ["'--price-per-hour'", "not a price"]),
    ("assume-mfu-above-one", ["--assume", "mfu=2"], ["'--assume mfu'", "'2'"]),
    ("format-unknown", ["--format", "xml"], ["'--format'", "'xml'", "table, json, csv"]),
]


@pytest.mark.parametrize("options,needles", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_bad_option(options, needles):
    check_result(small(*options), *needles)


def test_unknown_gpu_suggests_closest_names():
    line = check_result(small("--gpu", "h1000"), "'--gpu'", "unknown GPU 'h1000'", "closest")
    assert "h100" in line.split("closest", 1)[1]


def test_unknown_gpu_among_known_ones_is_named():
    check_result(small("--gpu", "h100,nosuch-gpu"), "'--gpu'", "'nosuch-gpu'")


# An empty value is a value, not "not given": it must not fall back to the default (all GPUs,
# top 10, cost, no redundant experts).


def test_empty_gpu_is_an_error():
    check_result(small("--gpu", ""), "'--gpu'")


@pytest.mark.parametrize("option", ["--top", "--objective", "--redundant-experts"])
def test_other_empty_values_are_errors(option):
    check_result(small(option, ""), f"'{option}'")


def test_missing_hardware_file(tmp_path):
    path = tmp_path / "nosuch.yaml"
    check_result(small("--hardware-file", path), str(path), "no such file")


def test_unknown_model():
    check_result(sweep("no-such-model-xyz", *AXES), "no-such-model-xyz")


def test_errors_through_the_console_entry_point(capsys):
    """``main`` (what the moecalc script runs) keeps the contract too."""
    code, out, err = run_main(["sweep", MODEL, "--gpu", "h100", "--gpus", "3..8"], capsys)
    check_error(code, out, err, "'--gpus'", "power of two")


# --------------------------------------------------------------------------- --output


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_output_csv_holds_every_feasible_row(tmp_path, small_json):
    out = tmp_path / "rows.csv"
    result = small("--output", out)
    check_ok(result)
    header, rows = read_csv(out)
    for column in ROW_COLUMNS:
        assert column in header, column
    assert len(rows) == small_json["summary"]["feasible"]
    assert {r["gpu"] for r in rows} <= {"h100", "h200"}
    assert {int(r["gpus"]) for r in rows} <= {1, 2, 4}
    assert {int(r["batch"]) for r in rows} <= {1, 8}
    assert {int(r["context"]) for r in rows} == {4096}
    for r in rows:       # every written row is a valid layout
        assert int(r["tp"]) * int(r["dp"]) * int(r["pp"]) == int(r["gpus"])
    assert f"wrote {small_json['summary']['feasible']:,} feasible rows" in result.stderr
    assert leftovers(tmp_path) == ["rows.csv"]


def test_output_json_is_a_list_of_every_feasible_row(tmp_path, small_json):
    out = tmp_path / "rows.json"
    check_ok(small("--output", out))
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(rows, list)
    assert len(rows) == small_json["summary"]["feasible"]
    for column in ROW_COLUMNS:
        assert column in rows[0], column
    assert leftovers(tmp_path) == ["rows.json"]


def test_output_does_not_change_stdout(tmp_path, small_json):
    data = as_json(small("--format", "json", "--output", tmp_path / "rows.csv"))
    assert data["summary"]["feasible"] == small_json["summary"]["feasible"]
    assert len(data["top"]) == len(small_json["top"])


def test_output_exists_without_force(tmp_path):
    out = tmp_path / "rows.csv"
    out.write_text("keep me\n", encoding="utf-8")
    check_result(small("--output", out), "'--output'", str(out), "--force")
    assert out.read_text(encoding="utf-8") == "keep me\n"
    assert leftovers(tmp_path) == ["rows.csv"]


def test_output_force_replaces(tmp_path, small_json):
    out = tmp_path / "rows.csv"
    out.write_text("old\n", encoding="utf-8")
    check_ok(small("--output", out, "--force"))
    header, rows = read_csv(out)
    assert "gpu" in header
    assert len(rows) == small_json["summary"]["feasible"]
    assert leftovers(tmp_path) == ["rows.csv"]


@pytest.mark.parametrize("name", ["rows.txt", "rows", "rows.CSV"])
def test_output_bad_suffix(tmp_path, name):
    check_result(small("--output", tmp_path / name), "'--output'", ".csv or .json")
    assert leftovers(tmp_path) == []


def test_output_missing_folder(tmp_path):
    out = tmp_path / "no" / "such" / "rows.csv"
    check_result(small("--output", out), "'--output'", "folder does not exist")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("options", [["--gpus", "3..8"], ["--objective", "speed"], ["--format", "xml"]],
                         ids=["bad-gpus", "bad-objective", "bad-format"])
def test_output_nothing_left_after_an_option_error(tmp_path, options):
    check_result(small("--output", tmp_path / "rows.csv", *options))
    assert leftovers(tmp_path) == []


def test_output_nothing_left_when_the_sweep_fails_midway(tmp_path, monkeypatch):
    """Rows already streamed to the temporary file are thrown away with it."""
    import moecalc.sweep

    real = moecalc.sweep.run_sweep
    streamed = []

    def failing(*args, **kwargs):
        on_rows = kwargs["on_rows"]

        def spy(rows):
            streamed.append(rows)
            on_rows(rows)

        real(*args, **{**kwargs, "on_rows": spy})
        raise MoecalcError("sweep failed (test)", field="--gpus")

    monkeypatch.setattr(moecalc.sweep, "run_sweep", failing)
    for name in ("rows.csv", "rows.json"):
        check_result(small("--output", tmp_path / name), "sweep failed (test)")
        assert streamed, "the sweep should have streamed rows before failing"
        assert leftovers(tmp_path) == []


def test_output_json_with_nothing_feasible_is_an_empty_list(tmp_path):
    out = tmp_path / "rows.json"
    check_ok(sweep("deepseek-v3", "--gpu", "rtx4090", "--gpus", "1,2", "--batch", "1", "--output", out))
    assert json.loads(out.read_text(encoding="utf-8")) == []


def test_output_csv_with_nothing_feasible_has_a_header(tmp_path):
    out = tmp_path / "rows.csv"
    check_ok(sweep("deepseek-v3", "--gpu", "rtx4090", "--gpus", "1,2", "--batch", "1", "--output", out))
    header, rows = read_csv(out)
    assert rows == []
    for column in ROW_COLUMNS:
        assert column in header, column


# --------------------------------------------------------------------------- --sweep plan.yaml


def test_plan_runs(tmp_path):
    data = as_json(sweep(MODEL, "--sweep", write(tmp_path, PLAN), "--format", "json"))
    assert data["summary"]["objective"] == "latency"
    assert len(data["top"]) == 3
    for r in data["top"]:
        assert r["deployment"]["gpu"] in ("h100", "h200")
        assert r["deployment"]["gpus"] in (1, 2, 4)          # "1..4": the powers of two 1, 2, 4
        assert r["workload"]["batch"] in (1, 8)
        assert r["workload"]["context"] == 4096
    tpots = [r["perf"]["tpot_seconds"] for r in data["top"]]
    assert tpots == sorted(tpots)                             # latency: fastest first


def test_plan_with_plain_scalars_and_step_range(tmp_path):
    text = 'gpu: h200\ngpus: 2\ntp: "1:2:1"\nbatch: 1\ncontext: 4096\ntop: 2\n'
    data = as_json(sweep(MODEL, "--sweep", write(tmp_path, text), "--format", "json"))
    assert data["summary"]["configs_enumerated"] == 4          # tp 1 and 2 on 2 GPUs x EP 1 and 2, one batch
    assert {r["deployment"]["gpu"] for r in data["top"]} == {"h200"}


def test_command_line_overrides_the_plan(tmp_path):
    plan = write(tmp_path, PLAN)
    data = as_json(sweep(MODEL, "--sweep", plan, "--gpu", "h200", "--objective", "cost", "--top", "2",
                         "--format", "json"))
    assert data["summary"]["objective"] == "cost"
    assert len(data["top"]) == 2
    assert {r["deployment"]["gpu"] for r in data["top"]} == {"h200"}
    costs = [r["cost"]["usd_per_million_output_tokens"] for r in data["top"]]
    assert costs == sorted(costs)


def test_command_line_replaces_a_bad_plan_value(tmp_path):
    plan = write(tmp_path, perturb('gpus: "1..4"', 'gpus: "8..4"'))
    data = as_json(sweep(MODEL, "--sweep", plan, "--gpus", "1,2", "--format", "json"))
    assert {r["deployment"]["gpus"] for r in data["top"]} <= {1, 2}


def test_bad_command_line_value_with_a_plan_names_the_option(tmp_path):
    plan = write(tmp_path, PLAN)
    line = check_result(sweep(MODEL, "--sweep", plan, "--gpus", "0"), "'--gpus'", "at least 1")
    assert str(plan) not in line


PLAN_CASES = [
    # id, old, new, line, needles
    ("unknown-key", 'gpus: "1..4"', 'gpuss: "1..4"', 2, ["'gpuss'", "unknown field"]),
    ("axis-produces-nothing", 'gpus: "1..4"', 'gpus: "8..4"', 2, ["'gpus'", "produces no values"]),
    ("axis-not-power-of-two", 'gpus: "1..4"', 'gpus: "3..8"', 2, ["'gpus'", "power of two"]),
    ("axis-list-item-zero", "batch: [1, 8]", "batch: [1, 0]", 3, ["'batch'", "at least 1"]),
    ("context-not-a-count", "context: 4k", "context: lots", 4, ["'context'", "not a count"]),
    ("bad-objective", "objective: latency", "objective: speed", 5, ["'objective'", "'speed'"]),
    ("top-zero", "top: 3", "top: 0", 6, ["'top'", "at least 1"]),
    ("unknown-gpu", "gpu: [h100, h200]", "gpu: [h100, h1000]", 1, ["'gpu'", "unknown GPU 'h1000'"]),
    ("unknown-dtype", "top: 3", "top: 3\nweights_dtype: fp7", 7, ["'weights_dtype'", "'fp7'"]),
    ("bad-constraint", "top: 3", "top: 3\nmax_tpot_ms: -1", 7, ["'max_tpot_ms'", "positive"]),
    ("bad-scale-out", "top: 3", "top: 3\nscale_out: nvlink4", 7, ["'scale_out'", "scale-up"]),
]


@pytest.mark.parametrize("old,new,line,needles", [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_bad_plan_value(tmp_path, old, new, line, needles):
    plan = write(tmp_path, perturb(old, new))
    check_result(sweep(MODEL, "--sweep", plan), f"{plan}:{line}:", *needles)


def test_plan_wrong_type(tmp_path):
    plan = write(tmp_path, perturb("batch: [1, 8]", "batch: {a: 1}"))
    check_result(sweep(MODEL, "--sweep", plan), f"{plan}:3:", "batch")


def test_plan_top_level_list(tmp_path):
    plan = write(tmp_path, "- gpu: h100\n- gpus: 2\n")
    check_result(sweep(MODEL, "--sweep", plan), str(plan), "top level must be a mapping", "list")


def test_plan_missing(tmp_path):
    plan = tmp_path / "nosuch.yaml"
    check_result(sweep(MODEL, "--sweep", plan), str(plan), "no such file")


def test_plan_empty(tmp_path):
    plan = write(tmp_path, "")
    check_result(sweep(MODEL, "--sweep", plan), str(plan), "empty")


def test_plan_invalid_yaml(tmp_path):
    plan = write(tmp_path, "gpu: [h100\nbatch: 1\n")
    check_result(sweep(MODEL, "--sweep", plan), str(plan), "invalid YAML")


def test_plan_empty_gpu_list_is_an_error(tmp_path):
    plan = write(tmp_path, perturb("gpu: [h100, h200]", "gpu: []"))
    check_result(sweep(MODEL, "--sweep", plan), f"{plan}:1:", "'gpu'")


# --------------------------------------------------------------------------- nothing feasible

TOO_BIG = ["deepseek-v3", "--gpu", "rtx4090", "--gpus", "1,2", "--batch", "1"]
TOO_FAST = [MODEL, "--gpu", "h100", "--gpus", "2,4", "--batch", "1", "--max-tpot-ms", "0.001"]


def test_nothing_fits_json():
    data = as_json(sweep(*TOO_BIG, "--format", "json"))
    s = data["summary"]
    assert s["feasible"] == 0
    # every valid row is over memory at the smallest batch: pruned before the time model
    assert s["configs_evaluated"] == 0 and s["configs_pruned"]["memory"] > 0
    assert sum(s["configs_pruned"].values()) == s["configs_enumerated"]
    assert data["top"] == []
    assert data["pareto"] == []
    assert data["top_command"] is None
    assert "GB per GPU" in data["why_none"]


def test_nothing_meets_the_constraint_json():
    data = as_json(sweep(*TOO_FAST, "--format", "json"))
    assert data["summary"]["feasible"] == 0
    assert data["top"] == []
    assert "TPOT" in data["why_none"]
    assert "--max-tpot-ms" in data["why_none"]


@pytest.mark.parametrize("args,needle", [(TOO_BIG, "GB per GPU"), (TOO_FAST, "TPOT")], ids=["too-big", "too-fast"])
def test_nothing_feasible_table(args, needle):
    result = sweep(*args)
    check_ok(result)
    text = " ".join(result.stdout.split())
    assert "nothing feasible:" in text
    assert needle in text
    assert "0 feasible" in text
    assert "reproduce the top row" not in text


def test_nothing_feasible_csv_prints_no_rows():
    result = sweep(*TOO_BIG, "--format", "csv")
    check_ok(result)
    assert len(result.stdout.strip().splitlines()) <= 1


# --------------------------------------------------------------------------- output shapes

DEPLOYMENT_KEYS = ("gpu", "gpus", "gpus_per_node", "tp", "ep", "dp", "pp")
WORKLOAD_KEYS = ("batch", "context", "weights_dtype", "kv_dtype")


def test_json_shape(small_json):
    data = small_json
    assert {"summary", "top", "pareto"} <= set(data)
    s = data["summary"]
    for key in ("configs_evaluated", "feasible", "seconds", "objective"):
        assert key in s, key
    assert s["objective"] == "cost"
    assert isinstance(s["configs_evaluated"], int) and isinstance(s["feasible"], int)
    assert s["seconds"] >= 0
    assert 0 < len(data["top"]) <= 10
    assert data["pareto"]
    for r in data["top"] + data["pareto"]:
        for key in DEPLOYMENT_KEYS:
            assert key in r["deployment"], key
        for key in WORKLOAD_KEYS:
            assert key in r["workload"], key
        d = r["deployment"]
        assert d["gpu"] in ("h100", "h200")
        assert d["gpus"] in (1, 2, 4)
        assert d["tp"] * d["dp"] * d["pp"] == d["gpus"]
        assert r["workload"]["batch"] in (1, 8)
        assert r["workload"]["context"] == 4096
        assert r["perf"]["tpot_seconds"] > 0
        assert r["cost"]["usd_per_million_output_tokens"] > 0
    costs = [r["cost"]["usd_per_million_output_tokens"] for r in data["top"]]
    assert costs == sorted(costs)


def test_json_top_command_reproduces_the_top_row(small_json):
    cmd = small_json["top_command"]
    assert cmd.startswith(f"moecalc estimate {MODEL} ")
    args = cmd.split()[2:]
    est = as_json(invoke("estimate", *args, "--format", "json"))
    top = small_json["top"][0]
    for key in DEPLOYMENT_KEYS:
        assert est["deployment"][key] == top["deployment"][key], key
    assert est["perf"]["tpot_seconds"] == pytest.approx(top["perf"]["tpot_seconds"])
    assert est["cost"]["usd_per_million_output_tokens"] == pytest.approx(
        top["cost"]["usd_per_million_output_tokens"])


def test_top_limits_rows():
    data = as_json(small("--top", "2", "--format", "json"))
    assert len(data["top"]) == 2


def test_csv_one_line_per_top_row(small_json):
    result = small("--format", "csv")
    check_ok(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(small_json["top"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(small_json["top"])
    assert "deployment.gpu" in rows[0]
    assert [r["deployment.gpu"] for r in rows] == [r["deployment"]["gpu"] for r in small_json["top"]]


def test_table_output(small_json):
    result = small()
    check_ok(result)
    text = " ".join(result.stdout.split())
    assert f"{AXES_CONFIGS} configurations, " in text and " evaluated" in text
    assert f"{small_json['summary']['feasible']} feasible" in text
    assert "reproduce the top row: moecalc estimate" in text
    assert result.stderr == ""
