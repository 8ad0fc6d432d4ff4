"""The CLI error contract for deployments: ``estimate --gpu ...`` and ``hardware``.

Same contract as tests/test_cli_errors.py: bad input gives exit code 2, exactly ONE line on
stderr starting ``moecalc: error: `` that names the option or the file, line and field, and what
is wrong; nothing on stdout; no traceback. Covered here:

- GPU lookup (``--gpu``; unknown names suggest the closest ones, names are case-insensitive);
- parallel layouts rejected by ``moecalc.deployment.check``;
- options that only make sense with ``--gpu``;
- bad option values (counts, prices, efficiencies, wire dtypes, interconnects, assumptions);
- ``--hardware-file`` problems, through both ``moecalc hardware`` and ``moecalc estimate``;
- the positive paths those errors guard (a user GPU, a user override of a bundled GPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import check_error, check_result, run_main
from moecalc.cli import app

runner = CliRunner()

BUNDLED = "hardware.yaml (bundled)"

# A user GPU: the bundled h100 entry's fields under a new key. Line numbers below refer to this
# text (1-based): 2 the key, 6 memory_gb, 7 hbm_tbps, 8 dense_tflops, 9 scale_up, 11 scale_out.
MY_GPU = """\
accelerators:
  my-gpu:
    name: "My GPU 80GB"
    aliases: ["mine"]
    vendor: "NVIDIA"
    memory_gb: 80.0
    hbm_tbps: 3.35
    dense_tflops: {fp32: 66.9, tf32: 494.7, bf16: 989.4, fp16: 989.4, fp8: 1978.9, int8: 1978.9}
    scale_up: nvlink4
    scale_up_domain: 8
    scale_out: ib-ndr-400g
    tdp_w: 700.0
    price_usd_per_hour: 2.49
    price_source: "test price, 2026-01"
    source: "copy of the bundled h100 profile"
"""

# Appended to MY_GPU: lines 16 interconnects, 17 the key, 18 kind, 19 bandwidth, 20 latency.
MY_LINK = """\
interconnects:
  my-link:
    kind: scale-out
    bandwidth_gbps: 50.0
    latency_us: 5.0
"""


# --------------------------------------------------------------------------- helpers


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def estimate(*args):
    return invoke("estimate", *args)


def check_ok(result) -> None:
    assert result.exit_code == 0, f"exit code {result.exit_code}: {result.stderr!r} {result.exception!r}"


def write(tmp_path: Path, content, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def perturb(old: str, new: str, text: str = MY_GPU) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def with_file(command: str, path) -> list:
    """Arguments that read ``path`` as a hardware file through ``command``."""
    if command == "hardware":
        return ["hardware", "--hardware-file", path]
    return ["estimate", "mixtral-8x7b", "--gpu", "my-gpu", "--hardware-file", path]


def as_json(result) -> dict | list:
    check_ok(result)
    return json.loads(result.stdout)


COMMANDS = pytest.mark.parametrize("command", ["hardware"])
"""The file's errors come from one reader (``load_catalog``): one command reads them all, and
``test_every_command_reports_a_bad_hardware_file`` checks that each command uses that reader."""


@pytest.mark.parametrize("command", ["hardware", "estimate"])
def test_fixture_is_valid(tmp_path, command):
    """The texts perturbed below load cleanly, so each error comes from the perturbation."""
    for text in (MY_GPU, MY_GPU + MY_LINK):
        check_ok(invoke(*with_file(command, write(tmp_path, text))))


# --------------------------------------------------------------------------- --gpu lookup


def test_unknown_gpu_suggests_closest_names():
    line = check_result(estimate("mixtral-8x7b", "--gpu", "h1000"), "'--gpu'", "unknown GPU", "'h1000'", "closest")
    assert "h100" in line.split("closest", 1)[1]


@pytest.mark.parametrize("name", ["", "   "], ids=["empty", "blank"])
def test_empty_gpu_name(name):
    check_result(estimate("mixtral-8x7b", "--gpu", name), "'--gpu'", "unknown GPU")


@pytest.mark.parametrize("name,key", [("H100_SXM", "h100"), ("RTX4090", "rtx4090"), ("h100 sxm", "h100"),
                                      ("Rtx-4090", "rtx4090"), ("MI300X", "mi300x")])
def test_gpu_names_are_case_insensitive(name, key):
    data = as_json(estimate("mixtral-8x7b", "--gpu", name, "--format", "json"))
    assert data["deployment"]["gpu"] == key


# --------------------------------------------------------------------------- options that need --gpu

NEEDS_GPU = [
    ["--gpus", "8"], ["--tp", "2"], ["--ep", "2"], ["--dp", "2"], ["--pp", "2"], ["--gpus-per-node", "4"],
    ["--scale-out", "roce-400g"], ["--price-per-hour", "2"], ["--max-nodes-per-token", "2"],
    ["--hardware-file", "x.yaml"], ["--redundant-experts", "2"],
]


@pytest.mark.parametrize("option", NEEDS_GPU, ids=[o[0].lstrip("-") for o in NEEDS_GPU])
def test_option_needs_gpu(option):
    check_result(estimate("mixtral-8x7b", *option), f"{option[0]} needs --gpu")


# --------------------------------------------------------------------------- parallel layouts

LAYOUT_CASES = [
    # id, model, gpu, options, needles
    ("tp-dp-pp-mismatch", "mixtral-8x7b", "h100", ["--gpus", "8", "--tp", "4", "--dp", "4"],
     ["'--gpus'", "4 x 4 x 1 = 16", "--gpus 8"]),
    ("dp-leaves-remainder", "mixtral-8x7b", "h100", ["--gpus", "8", "--dp", "3"], ["'--gpus'", "does not match"]),
    ("pp-leaves-remainder", "mixtral-8x7b", "h100", ["--gpus", "8", "--pp", "3"], ["'--gpus'", "not a multiple",
                                                                                  "1 x 3"]),
    ("heads-not-divisible", "mixtral-8x7b", "h100", ["--tp", "3"], ["'--tp'", "32 attention heads", "--tp 3"]),
    ("kv-heads-not-divisible", "qwen2.5-7b", "h100", ["--tp", "7"], ["'--tp'", "4 kv heads", "--tp 7"]),
    ("ep-above-experts", "deepseek-v3", "h100", ["--gpus", "512", "--ep", "512"],
     ["'--ep'", "--ep 512", "256 routed experts"]),
    ("ep-above-experts-and-redundant", "mixtral-8x7b", "h100",
     ["--gpus", "16", "--ep", "16", "--redundant-experts", "4"], ["'--ep'", "8 routed experts + 4 redundant"]),
    ("ep-on-dense-model", "llama-3.1-8b", "h100", ["--gpus", "2", "--ep", "2"], ["'--ep'", "no routed experts"]),
    ("redundant-on-dense-model", "llama-3.1-8b", "h100", ["--gpus", "2", "--redundant-experts", "4"],
     ["'--redundant-experts'", "no routed experts"]),
    ("ep-does-not-divide-tp-dp", "mixtral-8x7b", "h100", ["--ep", "3", "--gpus", "8"],
     ["'--ep'", "--ep 3", "must divide", "8 GPUs"]),
    ("pp-above-layers", "mixtral-8x7b", "h100", ["--gpus", "100", "--pp", "100"],
     ["'--pp'", "--pp 100", "32 layers"]),
    ("gpus-per-node-above-domain", "mixtral-8x7b", "h100", ["--gpus", "8", "--gpus-per-node", "16"],
     ["'--gpus-per-node'", "16 GPUs per node", "scale-up domain of 8"]),
    ("no-scale-out-h20", "qwen3-30b-a3b", "h20", ["--gpus", "16"],
     ["'--gpus'", "16 GPUs", "H20", "no scale-out network", "--scale-out"]),
    ("no-scale-out-mi325x", "qwen3-30b-a3b", "mi325x", ["--gpus", "16"],
     ["'--gpus'", "16 GPUs", "MI325X", "no scale-out network", "--scale-out"]),
]


@pytest.mark.parametrize("model,gpu,options,needles", [c[1:] for c in LAYOUT_CASES], ids=[c[0] for c in LAYOUT_CASES])
def test_bad_layout(model, gpu, options, needles):
    check_result(estimate(model, "--gpu", gpu, *options), *needles)


def test_scale_out_option_lifts_the_one_node_limit():
    """The fix the no-scale-out message suggests works."""
    data = as_json(estimate("qwen3-30b-a3b", "--gpu", "h20", "--gpus", "16", "--scale-out", "roce-400g",
                            "--format", "json"))
    assert data["deployment"]["nodes"] == 2
    assert data["hardware"]["scale_out"]["name"] == "roce-400g"


# Without --gpus (nor --tp/--dp) moecalc searches power-of-two GPU counts. A layout option that no
# count can satisfy must be reported as itself, not as "does not fit".
SEARCH_CASES = [
    ("ep-above-experts", "deepseek-v3", ["--ep", "512"], "'--ep'"),
    ("ep-on-dense-model", "llama-3.1-8b", ["--ep", "2"], "'--ep'"),
    ("redundant-on-dense-model", "llama-3.1-8b", ["--redundant-experts", "4"], "'--redundant-experts'"),
    ("pp-above-layers", "mixtral-8x7b", ["--pp", "100"], "'--pp'"),
    ("gpus-per-node-above-domain", "mixtral-8x7b", ["--gpus-per-node", "16"], "'--gpus-per-node'"),
]

@pytest.mark.parametrize("model,options,field", [c[1:] for c in SEARCH_CASES], ids=[c[0] for c in SEARCH_CASES])
def test_bad_layout_without_gpus_names_the_option(model, options, field):
    line = check_result(estimate(model, "--gpu", "h100", *options), field)
    assert "does not fit" not in line


def test_default_ep_is_valid_for_more_gpus_than_experts():
    data = as_json(estimate("mixtral-8x7b", "--gpu", "h100", "--gpus", "16", "--format", "json"))
    assert data["deployment"]["ep"] <= 8


def test_explicit_ep_for_more_gpus_than_experts():
    data = as_json(estimate("mixtral-8x7b", "--gpu", "h100", "--gpus", "16", "--ep", "8", "--format", "json"))
    assert data["deployment"]["expert_tp"] == 2


def test_model_that_fits_nowhere_by_default():
    check_result(estimate("deepseek-v3", "--gpu", "rtx4090", "--context", "1M", "--batch", "1024"),
                 "'--gpu'", "does not fit", "RTX 4090")


# --------------------------------------------------------------------------- bad option values

VALUE_CASES = [
    # id, options, needles
    ("gpus-zero", ["--gpus", "0"], ["'--gpus'", "at least 1", "'0'"]),
    ("gpus-negative", ["--gpus", "-1"], ["'--gpus'", "'-1'"]),
    ("gpus-non-numeric", ["--gpus", "abc"], ["'--gpus'", "'abc'", "not a count"]),
    ("gpus-fractional", ["--gpus", "1.5"], ["'--gpus'", "'1.5'", "whole number"]),
    ("gpus-empty", ["--gpus", ""], ["'--gpus'", "not a count"]),
    ("tp-zero", ["--tp", "0"], ["'--tp'", "at least 1"]),
    ("ep-zero", ["--ep", "0"], ["'--ep'", "at least 1"]),
    ("dp-zero", ["--dp", "0"], ["'--dp'", "at least 1"]),
    ("pp-zero", ["--pp", "0"], ["'--pp'", "at least 1"]),
    ("gpus-per-node-zero", ["--gpus-per-node", "0"], ["'--gpus-per-node'", "at least 1"]),
    ("max-nodes-per-token-zero", ["--max-nodes-per-token", "0"], ["'--max-nodes-per-token'", "at least 1"]),
    ("redundant-experts-negative", ["--redundant-experts", "-1"], ["'--redundant-experts'", "at least 0"]),
    ("redundant-experts-non-numeric", ["--redundant-experts", "abc"], ["'--redundant-experts'", "'abc'"]),
    ("price-negative", ["--price-per-hour", "-1"], ["'--price-per-hour'", "positive", "'-1'"]),
    ("price-zero", ["--price-per-hour", "0"], ["'--price-per-hour'", "positive", "'0'"]),
    ("price-non-numeric", ["--price-per-hour", "abc"], ["'--price-per-hour'", "'abc'", "not a price"]),
    ("price-nan", ["--price-per-hour", "nan"], ["'--price-per-hour'", "'nan'"]),
    ("price-inf", ["--price-per-hour", "inf"], ["'--price-per-hour'", "'inf'"]),
    ("price-empty", ["--price-per-hour", ""], ["'--price-per-hour'", "not a price"]),
    ("link-efficiency-zero", ["--link-efficiency", "0"], ["efficiency", "(0, 1]", "'0'"]),
    ("link-efficiency-above-one", ["--link-efficiency", "1.5"], ["efficiency", "(0, 1]", "'1.5'"]),
    ("link-efficiency-non-numeric", ["--link-efficiency", "x"], ["efficiency", "(0, 1]", "'x'"]),
    ("link-efficiency-nan", ["--link-efficiency", "nan"], ["efficiency", "(0, 1]", "'nan'"]),
    ("dispatch-dtype", ["--dispatch-dtype", "fp7"], ["--dispatch-dtype", "'fp7'", "fp8-noscale"]),
    ("combine-dtype", ["--combine-dtype", "int3"], ["--combine-dtype", "'int3'", "bf16"]),
    ("scale-out-unknown", ["--scale-out", "nosuchlink"], ["'--scale-out'", "unknown interconnect", "roce-400g"]),
    ("scale-out-near-miss", ["--scale-out", "roce-400"], ["'--scale-out'", "closest: roce-400g"]),
    ("scale-out-empty", ["--scale-out", ""], ["'--scale-out'", "unknown interconnect", "known: ", "roce-400g"]),
    ("assume-mfu-above-one", ["--assume", "mfu=2"], ["'--assume mfu'", "(0, 1]", "'2'"]),
    ("assume-mfu-nan", ["--assume", "mfu=nan"], ["'--assume mfu'", "'nan'"]),
    ("assume-comm-overlap", ["--assume", "comm_overlap=maybe"], ["'--assume comm_overlap'", "[0, 1]", "'maybe'"]),
    ("assume-compute-dtype-unknown", ["--assume", "compute_dtype=fp5"], ["'--assume compute_dtype'", "'fp5'"]),
    ("assume-compute-dtype-missing-peak", ["--assume", "compute_dtype=fp4"],
     ["'--assume compute_dtype'", "H100", "no fp4 peak"]),
]


@pytest.mark.parametrize("options,needles", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_bad_option_value(options, needles):
    check_result(estimate("mixtral-8x7b", "--gpu", "h100", *options), *needles)


SHORTHAND_CASES = [
    ("link-efficiency", ["--link-efficiency", "1.5"], "--link-efficiency"),
    ("dispatch-dtype", ["--dispatch-dtype", "fp7"], "--dispatch-dtype"),
    ("combine-dtype", ["--combine-dtype", "int3"], "--combine-dtype"),
]


@pytest.mark.parametrize("options,option", [c[1:] for c in SHORTHAND_CASES], ids=[c[0] for c in SHORTHAND_CASES])
def test_shorthand_option_error_names_the_option(options, option):
    check_result(estimate("mixtral-8x7b", "--gpu", "h100", *options), option)


def test_scale_out_option_rejects_a_scale_up_link():
    check_result(estimate("mixtral-8x7b", "--gpu", "h100", "--scale-out", "nvlink4"), "'--scale-out'", "nvlink4",
                 "scale-up")


def test_compute_dtype_with_a_peak_is_accepted():
    data = as_json(estimate("mixtral-8x7b", "--gpu", "b200", "--assume", "compute_dtype=fp4", "--format", "json"))
    assert data["hardware"]["compute_dtype"] == "fp4"


def test_price_per_hour_overrides_the_profile():
    data = as_json(estimate("mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--price-per-hour", "$3.5",
                            "--format", "json"))
    assert data["cost"]["price_per_gpu_hour"] == 3.5
    assert data["cost"]["price_source"] == "--price-per-hour"


# --------------------------------------------------------------------------- --hardware-file: reading the file


@pytest.mark.parametrize("args", [["hardware"], ["estimate", "mixtral-8x7b", "--gpu", "h100"],
                                  ["compare", "mixtral-8x7b"], ["sweep", "mixtral-8x7b", "--gpu", "h100"],
                                  ["route", "mixtral-8x7b"]], ids=lambda a: a[0])
def test_every_command_reports_a_bad_hardware_file(tmp_path, args):
    path = write(tmp_path, "accelerators: [1, 2\n")
    check_result(invoke(*args, "--hardware-file", path), str(path))


@COMMANDS
def test_hardware_file_missing(tmp_path, command):
    path = tmp_path / "nope.yaml"
    check_result(invoke(*with_file(command, path)), str(path), "no such file")


@COMMANDS
def test_hardware_file_is_a_folder(tmp_path, command):
    check_result(invoke(*with_file(command, tmp_path)), str(tmp_path), "folder")


@COMMANDS
def test_hardware_file_empty_name(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    check_result(invoke(*with_file(command, "")), "--hardware-file")


@pytest.mark.parametrize("content", ["", "  \n\n", "# only a comment\n"], ids=["empty", "whitespace", "comments"])
@COMMANDS
def test_hardware_file_empty(tmp_path, command, content):
    path = write(tmp_path, content)
    check_result(invoke(*with_file(command, path)), str(path), "empty")


@COMMANDS
def test_hardware_file_not_utf8(tmp_path, command):
    path = write(tmp_path, b"accelerators:\n  my-gpu: \xff\xfe\n")
    check_result(invoke(*with_file(command, path)), str(path), "UTF-8")


@pytest.mark.parametrize("content,line", [
    ("accelerators: {my-gpu: [\n", 2),
    ("accelerators:\n  my-gpu: 1: 2\n", 2),
    ("accelerators:\n\tmy-gpu: {}\n", 2),
], ids=["unclosed-flow", "double-colon", "tab-indent"])
@COMMANDS
def test_hardware_file_not_yaml(tmp_path, command, content, line):
    path = write(tmp_path, content)
    check_result(invoke(*with_file(command, path)), f"{path}:{line}:", "invalid YAML")


@pytest.mark.parametrize("content,kind", [("- h100\n- h200\n", "list"), ("just text\n", "str"), ("42\n", "int")],
                         ids=["list", "string", "number"])
@COMMANDS
def test_hardware_file_top_level_not_a_mapping(tmp_path, command, content, kind):
    path = write(tmp_path, content)
    check_result(invoke(*with_file(command, path)), str(path), "top level", "mapping", kind)


# --------------------------------------------------------------------------- --hardware-file: fields

ACC = "accelerators.my-gpu"
DENSE = "dense_tflops: {fp32: 66.9, tf32: 494.7, bf16: 989.4, fp16: 989.4, fp8: 1978.9, int8: 1978.9}"

HW_FIELD_CASES = [
    # id, old, new, needles ("{f}" is replaced by the file path)
    ("missing-required", "    hbm_tbps: 3.35\n", "", ["{f}:2:", f"'{ACC}.hbm_tbps'", "missing"]),
    ("negative", "memory_gb: 80.0", "memory_gb: -80.0", ["{f}:6:", f"'{ACC}.memory_gb'", "greater than 0", "-80"]),
    ("zero", "memory_gb: 80.0", "memory_gb: 0", ["{f}:6:", f"'{ACC}.memory_gb'", "greater than 0"]),
    ("inf", "hbm_tbps: 3.35", "hbm_tbps: .inf", ["{f}:7:", f"'{ACC}.hbm_tbps'", "finite", "inf"]),
    ("nan", "hbm_tbps: 3.35", "hbm_tbps: .nan", ["{f}:7:", f"'{ACC}.hbm_tbps'", "finite", "nan"]),
    ("string-for-number", "hbm_tbps: 3.35", "hbm_tbps: fast", ["{f}:7:", f"'{ACC}.hbm_tbps'", "number", "'fast'"]),
    ("quoted-number", "hbm_tbps: 3.35", 'hbm_tbps: "3.35"', ["{f}:7:", f"'{ACC}.hbm_tbps'", "'3.35'"]),
    ("bool-for-number", "memory_gb: 80.0", "memory_gb: true", ["{f}:6:", f"'{ACC}.memory_gb'", "True"]),
    ("unknown-field", "    memory_gb: 80.0\n", "    memory_gb: 80.0\n    memory_gbb: 80.0\n",
     ["{f}:7:", f"'{ACC}.memory_gbb'", "unknown field"]),
    # The typo replacing the real key: the missing key is reported first, the typo as "1 more".
    ("typo-for-required", "memory_gb: 80.0", "memory_gbb: 80.0",
     ["{f}:2:", f"'{ACC}.memory_gb'", "missing", "memory_gbb: unknown field"]),
    ("unknown-top-level", "accelerators:\n", "interconect: {}\naccelerators:\n",
     ["{f}:1:", "'interconect'", "unknown field"]),
    ("scale-up-unknown", "scale_up: nvlink4", "scale_up: nvlink9",
     ["{f}:9:", f"'{ACC}.scale_up'", "no interconnect named 'nvlink9'"]),
    ("scale-up-is-scale-out", "scale_up: nvlink4", "scale_up: ib-ndr-400g",
     ["{f}:9:", f"'{ACC}.scale_up'", "'ib-ndr-400g' is a scale-out interconnect, not scale-up"]),
    ("scale-out-unknown", "scale_out: ib-ndr-400g", "scale_out: ib-ndr-4000g",
     ["{f}:11:", f"'{ACC}.scale_out'", "no interconnect named 'ib-ndr-4000g'"]),
    ("scale-out-is-scale-up", "scale_out: ib-ndr-400g", "scale_out: nvlink4",
     ["{f}:11:", f"'{ACC}.scale_out'", "'nvlink4' is a scale-up interconnect, not scale-out"]),
    ("dense-without-bf16-or-fp16", DENSE, "dense_tflops: {fp8: 1978.9, int8: 1978.9}",
     ["{f}:8:", f"'{ACC}.dense_tflops'", "bf16 or fp16"]),
    ("dense-negative", "fp8: 1978.9,", "fp8: -1978.9,", ["{f}:8:", f"'{ACC}.dense_tflops.fp8'", "greater than 0"]),
    ("dense-unknown-dtype", "fp8: 1978.9,", "fp6: 1978.9,", ["{f}:8:", f"'{ACC}.dense_tflops.fp6'", "unknown field"]),
    ("dense-not-a-mapping", DENSE, "dense_tflops: lots", ["{f}:8:", f"'{ACC}.dense_tflops'", "'lots'"]),
    ("price-without-source", '    price_source: "test price, 2026-01"\n', "",
     ["{f}:2:", f"'{ACC}.price_source'", "provider and date"]),
    ("memory-gib-reported-far-off", "    memory_gb: 80.0\n", "    memory_gb: 80.0\n    memory_gib_reported: 10.0\n",
     ["{f}:7:", f"'{ACC}.memory_gib_reported'", "10.0 GiB", "20%", "80.0 GB"]),
    ("domain-zero", "scale_up_domain: 8", "scale_up_domain: 0", ["{f}:10:", f"'{ACC}.scale_up_domain'", "greater than 0"]),
    ("domain-fractional", "scale_up_domain: 8", "scale_up_domain: 8.5",
     ["{f}:10:", f"'{ACC}.scale_up_domain'", "integer", "8.5"]),
    ("empty-name", 'name: "My GPU 80GB"', 'name: ""', ["{f}:3:", f"'{ACC}.name'", "at least 1 character"]),
    ("aliases-not-a-list", 'aliases: ["mine"]', "aliases: mine", ["{f}:4:", f"'{ACC}.aliases'", "list"]),
    ("accelerator-empty", MY_GPU[len("accelerators:\n  my-gpu:\n"):], "",
     ["{f}:2:", f"'{ACC}'", "dictionary", "None"]),
    ("accelerators-a-list", MY_GPU, "accelerators: [h100, h200]\n", ["{f}:1:", "'accelerators'", "dictionary"]),
]


@pytest.mark.parametrize("old,new,needles", [c[1:] for c in HW_FIELD_CASES], ids=[c[0] for c in HW_FIELD_CASES])
@COMMANDS
def test_hardware_file_field_errors(tmp_path, command, old, new, needles):
    path = write(tmp_path, perturb(old, new))
    check_result(invoke(*with_file(command, path)), str(path), *[n.format(f=path) for n in needles])


LINK = "interconnects.my-link"
HW_LINK_CASES = [
    ("kind-unknown", "kind: scale-out", "kind: sideways", ["{f}:18:", f"'{LINK}.kind'", "'sideways'"]),
    ("kind-missing", "    kind: scale-out\n", "", ["{f}:17:", f"'{LINK}.kind'", "missing"]),
    ("bandwidth-negative", "bandwidth_gbps: 50.0", "bandwidth_gbps: -50.0",
     ["{f}:19:", f"'{LINK}.bandwidth_gbps'", "greater than 0", "-50"]),
    ("bandwidth-zero", "bandwidth_gbps: 50.0", "bandwidth_gbps: 0", ["{f}:19:", f"'{LINK}.bandwidth_gbps'"]),
    ("bandwidth-inf", "bandwidth_gbps: 50.0", "bandwidth_gbps: .inf",
     ["{f}:19:", f"'{LINK}.bandwidth_gbps'", "finite"]),
    ("latency-negative", "latency_us: 5.0", "latency_us: -5.0", ["{f}:20:", f"'{LINK}.latency_us'", "-5"]),
    ("latency-missing", "    latency_us: 5.0\n", "", ["{f}:17:", f"'{LINK}.latency_us'", "missing"]),
    ("unknown-field", "    latency_us: 5.0\n", "    latency_us: 5.0\n    latency_ns: 5.0\n",
     ["{f}:21:", f"'{LINK}.latency_ns'", "unknown field"]),
]


@pytest.mark.parametrize("old,new,needles", [c[1:] for c in HW_LINK_CASES], ids=[c[0] for c in HW_LINK_CASES])
@COMMANDS
def test_hardware_file_interconnect_errors(tmp_path, command, old, new, needles):
    path = write(tmp_path, MY_GPU + perturb(old, new, MY_LINK))
    check_result(invoke(*with_file(command, path)), str(path), *[n.format(f=path) for n in needles])


@COMMANDS
def test_hardware_file_accelerator_may_use_its_own_interconnect(tmp_path, command):
    path = write(tmp_path, perturb("scale_out: ib-ndr-400g", "scale_out: my-link") + MY_LINK)
    check_ok(invoke(*with_file(command, path)))


@COMMANDS
def test_user_interconnect_override_breaking_bundled_gpu_names_the_user_file(tmp_path, command):
    path = write(tmp_path, MY_GPU + perturb("my-link:", "nvlink4:", MY_LINK))
    check_result(invoke(*with_file(command, path)), str(path), "nvlink4")


# --------------------------------------------------------------------------- --hardware-file: what works


def test_user_gpu_serves_by_alias(tmp_path):
    path = write(tmp_path, MY_GPU)
    data = as_json(estimate("mixtral-8x7b", "--gpu", "MINE", "--gpus", "2", "--hardware-file", path,
                            "--format", "json"))
    assert data["deployment"]["gpu"] == "my-gpu"
    assert data["deployment"]["gpus"] == 2
    assert data["hardware"]["name"] == "My GPU 80GB"
    assert data["cost"]["price_per_gpu_hour"] == 2.49


def test_hardware_lists_user_gpu_with_its_origin(tmp_path):
    path = write(tmp_path, MY_GPU)
    bundled = as_json(invoke("hardware", "--format", "json"))
    rows = {r["gpu"]: r for r in as_json(invoke("hardware", "--hardware-file", path, "--format", "json"))}
    assert len(rows) == len(bundled) + 1
    assert rows["my-gpu"]["origin"] == str(path)
    assert rows["my-gpu"]["aliases"] == "mine"
    assert rows["h100"]["origin"] == BUNDLED


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_hardware_other_formats_show_user_gpu(tmp_path, fmt):
    path = write(tmp_path, MY_GPU)
    result = invoke("hardware", "--hardware-file", path, "--format", fmt)
    check_ok(result)
    assert "my-gpu" in result.stdout


def test_hardware_interconnects_lists_user_link(tmp_path):
    path = write(tmp_path, MY_GPU + MY_LINK)
    rows = {r["interconnect"]: r for r in as_json(invoke("hardware", "--interconnects", "--hardware-file", path,
                                                         "--format", "json"))}
    assert rows["my-link"]["kind"] == "scale-out"
    assert rows["my-link"]["bytes_per_s_per_direction"] == 50e9


def test_user_file_overrides_bundled_gpu_price(tmp_path):
    path = write(tmp_path, perturb("  my-gpu:", "  h100:", perturb("2.49", "9.99")))
    args = ["mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--format", "json"]
    before = as_json(estimate(*args))
    after = as_json(estimate(*args, "--hardware-file", path))
    assert before["cost"]["price_per_gpu_hour"] == 2.49
    assert after["cost"]["price_per_gpu_hour"] == 9.99
    assert after["cost"]["usd_per_hour"] == pytest.approx(2 * 9.99)
    rows = {r["gpu"]: r for r in as_json(invoke("hardware", "--hardware-file", path, "--format", "json"))}
    assert rows["h100"]["origin"] == str(path)
    assert rows["h100"]["price_usd_per_hour"] == 9.99


def test_bundled_aliases_reach_the_overriding_entry(tmp_path):
    path = write(tmp_path, perturb("  my-gpu:", "  h100:", perturb("2.49", "9.99")))
    data = as_json(estimate("mixtral-8x7b", "--gpu", "H100-SXM5", "--hardware-file", path, "--format", "json"))
    assert data["deployment"]["gpu"] == "h100"
    assert data["cost"]["price_per_gpu_hour"] == 9.99


def test_unknown_gpu_suggestions_include_user_gpus(tmp_path):
    path = write(tmp_path, MY_GPU)
    check_result(estimate("mixtral-8x7b", "--gpu", "my-gpuu", "--hardware-file", path), "'--gpu'", "closest: my-gpu")


# --------------------------------------------------------------------------- console entry point

CONSOLE_CASES = [
    ("unknown-gpu", ["estimate", "mixtral-8x7b", "--gpu", "h1000"], ["--gpu", "h100"]),
    ("needs-gpu", ["estimate", "mixtral-8x7b", "--gpus", "8"], ["--gpus needs --gpu"]),
    ("bad-layout", ["estimate", "mixtral-8x7b", "--gpu", "h100", "--tp", "3"], ["--tp"]),
    ("bad-hardware-file", ["hardware", "--hardware-file", "{bad}"], ["{bad}:7:", "hbm_tbps"]),
    ("missing-hardware-file", ["estimate", "mixtral-8x7b", "--gpu", "h100", "--hardware-file", "{tmp}/nope.yaml"],
     ["nope.yaml", "no such file"]),
    ("hardware-bad-format", ["hardware", "--format", "xml"], ["--format", "xml"]),
]


@pytest.mark.parametrize("args,needles", [c[1:] for c in CONSOLE_CASES], ids=[c[0] for c in CONSOLE_CASES])
def test_console_entry_point_exits_2(tmp_path, capsys, args, needles):
    bad = write(tmp_path, perturb("hbm_tbps: 3.35", "hbm_tbps: .nan"), "bad.yaml")
    fill = dict(tmp=tmp_path, bad=bad)
    code, out, err = run_main([a.format(**fill) for a in args], capsys)
    check_error(code, out, err, *[n.format(**fill) for n in needles])


@pytest.mark.parametrize("pair, needle", [
    ("layer_overhead_us=-1", "[0, 1e6]"), ("layer_overhead_us=inf", "[0, 1e6]"), ("gemm_half_rows=1e308", "[0, 1e6]"),
    ("comm_overlap=1.5", "[0, 1]"), ("comm_overlap=sometimes", "tbo"), ("expert_efficiency=0", "(0, 1]"),
    ("profile=exact", "calibrated, bound"), ("a2a_kernel=fast", "low-latency, normal"),
    ("attention_dtype=fp4", "bf16, fp8")])
def test_bad_calibration_assumptions(pair, needle):
    """The calibrated model's assumptions: one line naming the option and the range, exit 2."""
    from typer.testing import CliRunner

    from moecalc.cli import app

    result = CliRunner().invoke(app, ["estimate", "mixtral-8x7b", "--gpu", "h100", "--assume", pair])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"'--assume {pair.split('=')[0]}'" in result.stderr and needle in result.stderr
