"""The CLI error contract.

Bad input of any kind gives exactly ONE line on stderr, starting ``moecalc: error: ``, naming the
file (when there is one), the field (when there is one) and what is wrong; exit code 2; no
traceback; nothing on stdout; and ``moecalc import -o OUT`` never leaves OUT (or any temporary
file) half-written.

Command-level errors go through ``typer.testing.CliRunner``; usage errors that typer itself raises
(unknown option, missing argument) and the console entry point go through ``moecalc.cli.main``.
Cases where the program did not honour the contract were found this way and fixed; the
observed behaviour in the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moecalc import __version__
from conftest import check_error, check_result, run_main
from moecalc.cli import app

CONFIGS = Path(__file__).parent / "data" / "configs"
MIXTRAL = CONFIGS / "mixtral-8x7b.json"

# Line numbers below refer to this text (1-based).
TINY = """\
name: tiny
hidden_size: 64
num_layers: 2
vocab_size: 100
attention: {type: gqa, num_heads: 4, num_kv_heads: 2}
ffn: {intermediate_size: 128}
moe: {num_experts: 4, top_k: 2, expert_intermediate_size: 32}
"""

SUMMARY = """\
name: secret
form: summary
total_params: 1.0e9
active_params: 2.0e9
num_experts: 8
top_k: 2
num_layers: 2
hidden_size: 64
attention: {type: gqa, num_heads: 4, num_kv_heads: 2}
"""

runner = CliRunner()


# --------------------------------------------------------------------------- helpers


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def perturb(old: str, new: str, text: str = TINY) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def mixtral_config(**changes) -> dict:
    data = json.loads(MIXTRAL.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    return data


_DELETE = object()


def write_config(tmp_path: Path, name: str = "config.json", **changes) -> Path:
    # allow_nan so NaN/Infinity can be written on purpose; indent so lines are meaningful.
    return write(tmp_path, name, json.dumps(mixtral_config(**changes), indent=2, allow_nan=True))


def test_fixtures_are_valid(tmp_path):
    """The texts perturbed below load cleanly, so each error comes from the perturbation."""
    for name, text in (("tiny.yaml", TINY), ("summary.yaml", perturb("active_params: 2.0e9",
                                                                     "active_params: 0.5e9", SUMMARY))):
        result = invoke("estimate", write(tmp_path, name, text))
        assert result.exit_code == 0, result.stderr
    result = invoke("estimate", write_config(tmp_path))
    assert result.exit_code == 0, result.stderr


# --------------------------------------------------------------------------- positive, trivially related


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"moecalc {__version__}"


def test_schema_prints_json_schema():
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "$schema" in schema
    assert any("properties" in d for d in schema["$defs"].values())
    assert "properties" in result.stdout


def test_import_writes_output_and_nothing_on_stdout(tmp_path):
    out = tmp_path / "mixtral.yaml"
    result = invoke("import", MIXTRAL, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixtral.yaml"]
    assert invoke("estimate", out).exit_code == 0


# --------------------------------------------------------------------------- reading the file


@pytest.mark.parametrize("name", ["nope.yaml", "nope.json"])
def test_missing_file(tmp_path, name):
    path = tmp_path / name
    check_result(invoke("estimate", path), str(path), "no such file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a chmod 000 file")
@pytest.mark.parametrize("name", ["spec.yaml", "config.json"])
def test_unreadable_file(tmp_path, name):
    path = write(tmp_path, name, TINY)
    path.chmod(0)
    try:
        check_result(invoke("estimate", path), str(path), "cannot read")
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("content", ["", "   \n\n\t \n"], ids=["empty", "whitespace"])
@pytest.mark.parametrize("name", ["spec.yaml", "config.json"])
def test_empty_file(tmp_path, name, content):
    path = write(tmp_path, name, content)
    check_result(invoke("estimate", path), str(path), "empty")


def test_yaml_comments_only_is_empty(tmp_path):
    path = write(tmp_path, "spec.yaml", "# nothing here\n# at all\n")
    check_result(invoke("estimate", path), str(path), "empty")


def test_folder_without_config_json(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    check_result(invoke("estimate", folder), str(folder), "config.json")


@pytest.mark.parametrize("name", ["spec.yaml", "config.json"])
def test_non_utf8_bytes(tmp_path, name):
    path = write(tmp_path, name, b"name: tiny\nhidden_size: \xff\xfe\x80\n")
    check_result(invoke("estimate", path), str(path), "UTF-8")


@pytest.mark.parametrize("name", ["spec.yaml", "config.json"])
def test_oversized_file(tmp_path, name):
    if name.endswith(".json"):
        content = json.dumps({**mixtral_config(), "padding": "x" * (1 << 20)})
    else:
        content = TINY + "# " + "x" * (1 << 20) + "\n"
    path = write(tmp_path, name, content)
    assert path.stat().st_size > 1 << 20
    check_result(invoke("estimate", path), str(path), "limit")


def test_unknown_bundled_model_name():
    line = check_result(invoke("estimate", "no-such-model-xyz"), "no-such-model-xyz", "bundled")
    assert "mixtral-8x7b" in line          # lists what is bundled


# --------------------------------------------------------------------------- YAML / JSON syntax and shape


def test_invalid_yaml_names_line(tmp_path):
    path = write(tmp_path, "spec.yaml", "name: tiny\nhidden_size: 64\nnum_layers: 2: 3\nvocab_size: 100\n")
    check_result(invoke("estimate", path), f"{path}:3:", "invalid YAML")


def test_invalid_yaml_unclosed_flow(tmp_path):
    path = write(tmp_path, "spec.yaml", perturb("{intermediate_size: 128}", "{intermediate_size: 128"))
    check_result(invoke("estimate", path), str(path), "invalid YAML")


def test_invalid_yaml_tab_indent(tmp_path):
    path = write(tmp_path, "spec.yaml", "name: tiny\n\thidden_size: 64\n")
    check_result(invoke("estimate", path), f"{path}:2:", "invalid YAML")


def test_yaml_multiple_documents(tmp_path):
    path = write(tmp_path, "spec.yaml", TINY + "---\nname: other\n")
    check_result(invoke("estimate", path), str(path), "invalid YAML")


def test_invalid_json_names_line(tmp_path):
    path = write(tmp_path, "config.json", '{\n  "model_type": "mixtral",\n  "hidden_size": ,\n  "x": 1\n}\n')
    check_result(invoke("estimate", path), f"{path}:3:", "invalid JSON")


def test_invalid_json_truncated(tmp_path):
    path = write(tmp_path, "config.json", MIXTRAL.read_text(encoding="utf-8")[:200])
    check_result(invoke("estimate", path), str(path), "invalid JSON")


@pytest.mark.parametrize("name,content,kind", [
    ("spec.yaml", "- name: tiny\n- hidden_size: 64\n", "list"),
    ("spec.yaml", "just a string\n", "str"),
    ("spec.yaml", "42\n", "int"),
    ("config.json", '[{"model_type": "mixtral"}]', "list"),
    ("config.json", '"mixtral"', "str"),
], ids=["yaml-list", "yaml-scalar-str", "yaml-scalar-int", "json-array", "json-string"])
def test_wrong_top_level_type(tmp_path, name, content, kind):
    path = write(tmp_path, name, content)
    check_result(invoke("estimate", path), str(path), "top level", kind)


def test_yaml_alias_bomb(tmp_path):
    names = "abcdefghi"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip(names, names[1:]):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    check_result(invoke("estimate", path), str(path), "alias")


def test_yaml_alias_cycle_is_not_an_infinite_loop(tmp_path):
    path = write(tmp_path, "cycle.yaml", "a: &a [*a]\n")
    result = invoke("estimate", path)
    # PyYAML refuses an alias to an unfinished anchor; either way one line and exit 2.
    check_result(result, str(path))


# --------------------------------------------------------------------------- YAML spec validation

YAML_FIELD_CASES = [
    # id, old, new, needles (besides the path; "{f}" is replaced by the file path)
    ("missing-required", "vocab_size: 100\n", "", ["vocab_size", "missing"]),
    ("missing-nested-required", "expert_intermediate_size: 32", "gated: true",
     ["{f}:7:", "moe.expert_intermediate_size", "missing"]),
    ("unknown-top-level", "ffn: {intermediate_size: 128}\n", "ffn: {intermediate_size: 128}\nfoo: 1\n",
     ["{f}:7:", "'foo'", "unknown field"]),
    ("unknown-nested", "num_kv_heads: 2}", "num_kv_heads: 2, foo: 1}",
     ["{f}:5:", "attention.foo", "unknown field"]),
    ("negative", "hidden_size: 64", "hidden_size: -64", ["{f}:2:", "hidden_size", "-64"]),
    ("zero", "hidden_size: 64", "hidden_size: 0", ["{f}:2:", "hidden_size", "greater than 0"]),
    ("nan", "hidden_size: 64", "hidden_size: .nan", ["{f}:2:", "hidden_size", "nan"]),
    ("inf", "hidden_size: 64", "hidden_size: .inf", ["{f}:2:", "hidden_size"]),
    ("non-numeric", "hidden_size: 64", "hidden_size: lots", ["{f}:2:", "hidden_size", "lots"]),
    ("fractional", "hidden_size: 64", "hidden_size: 64.5", ["{f}:2:", "hidden_size", "64.5"]),
    ("quoted-number", "num_layers: 2", 'num_layers: "2"', ["{f}:3:", "num_layers"]),
    ("nested-negative", "top_k: 2", "top_k: -1", ["{f}:7:", "moe.top_k", "-1"]),
    ("nested-zero", "num_experts: 4", "num_experts: 0", ["{f}:7:", "moe.num_experts"]),
    ("nested-nan", "num_heads: 4", "num_heads: .nan", ["{f}:5:", "attention.num_heads", "nan"]),
    ("nested-non-numeric", "intermediate_size: 128", "intermediate_size: lots",
     ["{f}:6:", "ffn.intermediate_size", "lots"]),
    ("wrong-typed-bool", "vocab_size: 100\n", "vocab_size: 100\ntie_embeddings: maybe\n",
     ["{f}:5:", "tie_embeddings", "maybe"]),
    ("wrong-typed-section", "ffn: {intermediate_size: 128}", "ffn: 128", ["{f}:6:", "ffn"]),
    ("bad-enum", "type: gqa", "type: sparse", ["{f}:5:", "attention.type", "sparse"]),
    ("empty-name", "name: tiny", "name: ''", ["{f}:1:", "name"]),
    ("unknown-weights-dtype", "vocab_size: 100\n", "vocab_size: 100\ndtypes: {weights: fp7}\n",
     ["{f}:5:", "dtypes.weights", "fp7"]),
    ("unknown-kv-dtype", "vocab_size: 100\n", "vocab_size: 100\ndtypes: {kv_cache: int3}\n",
     ["{f}:5:", "dtypes.kv_cache", "int3"]),
    ("bad-form", "name: tiny\n", "name: tiny\nform: sketch\n", ["{f}:2:", "form", "sketch"]),
    ("moe-layer-out-of-range", "expert_intermediate_size: 32}", "expert_intermediate_size: 32, layers: [5]}",
     ["moe.layers", "5"]),
    # Cross-field checks: the message names the offending value (the exact dotted path is
    # checked in test_cross_field_error_names_dotted_field below).
    ("top-k-above-num-experts", "top_k: 2", "top_k: 5", ["{f}:7:", "moe", "top_k", "num_experts"]),
    ("heads-not-divisible", "num_kv_heads: 2", "num_kv_heads: 3",
     ["{f}:5:", "attention", "num_heads", "num_kv_heads", "divisible"]),
    ("mla-missing-kv-lora-rank", "{type: gqa, num_heads: 4, num_kv_heads: 2}",
     "{type: mla, num_heads: 4, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16}",
     ["{f}:5:", "attention", "kv_lora_rank"]),
    ("sliding-without-window", "num_kv_heads: 2}", "num_kv_heads: 2, layer_types: [sliding, full]}",
     ["{f}:5:", "attention", "sliding", "sliding_window"]),
    ("groups-not-dividing-experts", "expert_intermediate_size: 32}",
     "expert_intermediate_size: 32, expert_groups: 3, groups_per_token: 1}", ["{f}:7:", "expert_groups", "3 groups"]),
    ("groups-per-token-above-groups", "expert_intermediate_size: 32}",
     "expert_intermediate_size: 32, expert_groups: 2, groups_per_token: 3}", ["{f}:7:", "groups_per_token", "exceeds"]),
    ("groups-without-per-token", "expert_intermediate_size: 32}",
     "expert_intermediate_size: 32, expert_groups: 2}", ["{f}:7:", "groups_per_token", "go together"]),
    ("groups-too-few-for-top-k", "expert_intermediate_size: 32}",
     "expert_intermediate_size: 32, expert_groups: 4, groups_per_token: 1}", ["{f}:7:", "fewer than top_k"]),
    ("groups-zero", "expert_intermediate_size: 32}",
     "expert_intermediate_size: 32, expert_groups: 0, groups_per_token: 1}", ["{f}:7:", "moe.expert_groups"]),
]


@pytest.mark.parametrize("old,new,needles", [c[1:] for c in YAML_FIELD_CASES],
                         ids=[c[0] for c in YAML_FIELD_CASES])
def test_yaml_spec_field_errors(tmp_path, old, new, needles):
    path = write(tmp_path, "spec.yaml", perturb(old, new))
    check_result(invoke("estimate", path), str(path), *[n.format(f=path) for n in needles])


CROSS_FIELD_CASES = [
    ("top-k-above-num-experts", "top_k: 2", "top_k: 5", "moe.top_k"),
    ("heads-not-divisible", "num_kv_heads: 2", "num_kv_heads: 3", "attention.num_kv_heads"),
    ("mla-missing-kv-lora-rank", "{type: gqa, num_heads: 4, num_kv_heads: 2}",
     "{type: mla, num_heads: 4, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 16}",
     "attention.kv_lora_rank"),
    ("sliding-without-window", "num_kv_heads: 2}", "num_kv_heads: 2, layer_types: [sliding, full]}",
     "attention.sliding_window"),
]


@pytest.mark.parametrize("old,new,field", [c[1:] for c in CROSS_FIELD_CASES], ids=[c[0] for c in CROSS_FIELD_CASES])
def test_cross_field_error_names_dotted_field(tmp_path, old, new, field):
    path = write(tmp_path, "spec.yaml", perturb(old, new))
    check_result(invoke("estimate", path), str(path), field)


def test_summary_active_above_total(tmp_path):
    path = write(tmp_path, "summary.yaml", SUMMARY)
    check_result(invoke("estimate", path), str(path), "active_params", "total_params", "exceeds")


def test_summary_active_above_total_names_field_and_line(tmp_path):
    path = write(tmp_path, "summary.yaml", SUMMARY)
    check_result(invoke("estimate", path), f"{path}:4:", "field 'active_params'")


@pytest.mark.parametrize("old,new,needles", [
    ("active_params: 2.0e9", "active_params: .nan", ["{f}:4:", "active_params", "nan"]),
    ("total_params: 1.0e9", "total_params: -1.0e9", ["{f}:3:", "total_params"]),
    ("total_params: 1.0e9", "total_params: lots", ["{f}:3:", "total_params", "lots"]),
    ("top_k: 2", "top_k: 8", ["top_k", "num_experts"]),
], ids=["nan", "negative", "non-numeric", "top-k-not-below-experts"])
def test_summary_field_errors(tmp_path, old, new, needles):
    text = perturb("active_params: 2.0e9", "active_params: 0.5e9", SUMMARY) if "active" not in old else SUMMARY
    path = write(tmp_path, "summary.yaml", perturb(old, new, text))
    check_result(invoke("estimate", path), str(path), *[n.format(f=path) for n in needles])


def test_spec_written_as_json_is_validated(tmp_path):
    """A .json file that is a moecalc spec (has 'name', no 'model_type') is validated as a spec."""
    path = write(tmp_path, "spec.json", json.dumps({"name": "tiny", "hidden_size": 64}))
    check_result(invoke("estimate", path), str(path), "missing")


# --------------------------------------------------------------------------- config.json validation

CONFIG_CASES = [
    ("negative", {"hidden_size": -4096}, ["hidden_size", "-4096"]),
    ("zero", {"hidden_size": 0}, ["hidden_size", ">= 1"]),
    ("non-numeric", {"hidden_size": "lots"}, ["hidden_size", "lots"]),
    ("fractional", {"num_hidden_layers": 31.5}, ["num_hidden_layers", "31.5"]),
    ("bool-as-int", {"num_local_experts": True}, ["num_local_experts"]),
    ("wrong-typed-bool", {"tie_word_embeddings": "maybe"}, ["tie_word_embeddings", "maybe"]),
    ("missing-required", {"vocab_size": _DELETE}, ["vocab_size", "missing"]),
    ("missing-model-type", {"model_type": _DELETE}, ["model_type", "missing"]),
    ("model-type-not-string", {"model_type": 7}, ["model_type"]),
    ("bad-quantization-config", {"quantization_config": {"quant_method": "bitsandbytes"}},
     ["--weights-dtype", "quantization_config.quant_method", "bitsandbytes"]),
]


@pytest.mark.parametrize("changes,needles", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_json_field_errors(tmp_path, changes, needles):
    path = write_config(tmp_path, **changes)
    check_result(invoke("estimate", path), str(path), *needles)


def test_config_unknown_model_type_lists_families(tmp_path):
    path = write_config(tmp_path, model_type="frobnicator")
    check_result(invoke("estimate", path), str(path), "model_type", "frobnicator", "deepseek_v3", "mixtral",
                 "qwen3_moe")


def test_config_folder_is_named(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    write_config(folder, hidden_size="lots")
    check_result(invoke("estimate", folder), str(folder / "config.json"), "hidden_size")


@pytest.mark.parametrize("value,token,shown", [(float("nan"), "NaN", "nan"), (float("inf"), "Infinity", "inf")],
                         ids=["nan", "inf"])
def test_config_json_nan_names_field(tmp_path, value, token, shown):
    path = write_config(tmp_path, hidden_size=value)
    assert f'"hidden_size": {token}' in path.read_text()
    check_result(invoke("estimate", path), str(path), "hidden_size", shown)


@pytest.mark.parametrize("changes,needles", [
    ({"num_key_value_heads": 5}, ["divisible", "5"]),
    ({"num_experts_per_tok": 9}, ["exceeds", "9"]),
], ids=["heads-not-divisible", "top-k-above-num-experts"])
def test_config_errors_found_after_conversion(tmp_path, changes, needles):
    path = write_config(tmp_path, **changes)
    check_result(invoke("estimate", path), str(path), *needles)


@pytest.mark.parametrize("changes,key", [
    ({"num_key_value_heads": 5}, "num_key_value_heads"),
    ({"num_experts_per_tok": 9}, "num_experts_per_tok"),
], ids=["heads-not-divisible", "top-k-above-num-experts"])
def test_config_errors_found_after_conversion_name_config_key(tmp_path, changes, key):
    path = write_config(tmp_path, **changes)
    check_result(invoke("estimate", path), str(path), key)


# --------------------------------------------------------------------------- command-line values

CLI_VALUE_CASES = [
    ("context-negative", ["--context", "-1"], ["--context", "-1"]),
    ("context-zero", ["--context", "0"], ["--context", "0"]),
    ("context-non-numeric", ["--context", "lots"], ["--context", "lots"]),
    ("context-fractional", ["--context", "1.5"], ["--context", "1.5"]),
    ("batch-zero", ["--batch", "0"], ["--batch", "0"]),
    ("batch-non-numeric", ["--batch", "many"], ["--batch", "many"]),
    ("format", ["--format", "xml"], ["--format", "xml"]),
    ("weights-dtype", ["--weights-dtype", "fp7"], ["--weights-dtype", "fp7"]),
    ("kv-dtype", ["--kv-dtype", "int3"], ["--kv-dtype", "int3"]),
    ("assume-unknown-name", ["--assume", "nope=1"], ["--assume", "nope"]),
    ("assume-no-equals", ["--assume", "prefill_chunk_tokens"], ["--assume", "prefill_chunk_tokens"]),
    ("assume-bad-count", ["--assume", "prefill_chunk_tokens=abc"], ["--assume prefill_chunk_tokens", "abc"]),
    ("assume-bad-bytes", ["--assume", "runtime_overhead_bytes=lots"], ["--assume runtime_overhead_bytes", "lots"]),
    ("assume-bad-dtype", ["--assume", "unquantized_dtype=int4"], ["--assume unquantized_dtype", "int4"]),
]


@pytest.mark.parametrize("options,needles", [c[1:] for c in CLI_VALUE_CASES], ids=[c[0] for c in CLI_VALUE_CASES])
def test_bad_cli_values(tmp_path, options, needles):
    path = write(tmp_path, "spec.yaml", TINY)
    check_result(invoke("estimate", path, *options), *needles)


def test_bad_cli_value_on_bundled_model():
    check_result(invoke("estimate", "mixtral-8x7b", "--context", "-1"), "--context")


def test_models_bad_format():
    check_result(invoke("models", "--format", "xml"), "--format", "xml")


# --------------------------------------------------------------------------- usage errors raised by typer


@pytest.mark.parametrize("args,needles", [
    (["estimate", "{spec}", "--bogus"], ["--bogus"]),
    (["estimate"], ["MODEL"]),
    (["import"], ["CONFIG"]),
    (["estimate", "{spec}", "--context"], ["--context"]),
    (["estimate", "{spec}", "extra"], ["extra"]),
    (["frobnicate"], ["frobnicate"]),
], ids=["unknown-option", "missing-argument", "import-missing-argument", "option-missing-value",
        "extra-argument", "unknown-command"])
def test_usage_errors(tmp_path, capsys, args, needles):
    spec = write(tmp_path, "spec.yaml", TINY)
    code, out, err = run_main([a.format(spec=spec) for a in args], capsys)
    check_error(code, out, err, *needles)


CONSOLE_CASES = [
    ("missing-file", ["estimate", "{tmp}/nope.yaml"], ["nope.yaml"]),
    ("bad-field", ["estimate", "{bad}"], ["bad.yaml:2:", "hidden_size"]),
    ("bad-context", ["estimate", "{tiny}", "--context", "0"], ["--context"]),
    ("models-bad-format", ["models", "--format", "xml"], ["--format"]),
    ("import-yaml", ["import", "{tiny}"], ["tiny.yaml"]),
]


@pytest.mark.parametrize("args,needles", [c[1:] for c in CONSOLE_CASES], ids=[c[0] for c in CONSOLE_CASES])
def test_console_entry_point_exits_2(tmp_path, capsys, args, needles):
    tiny = write(tmp_path, "tiny.yaml", TINY)
    bad = write(tmp_path, "bad.yaml", perturb("hidden_size: 64", "hidden_size: lots"))
    code, out, err = run_main([a.format(tmp=tmp_path, tiny=tiny, bad=bad) for a in args], capsys)
    check_error(code, out, err, *needles)


def test_console_entry_point_error_line(tmp_path, capsys):
    """The part of the contract main() does honour today: one line on stderr, nothing on stdout."""
    bad = write(tmp_path, "bad.yaml", perturb("hidden_size: 64", "hidden_size: lots"))
    _, out, err = run_main(["estimate", bad], capsys)
    assert out == ""
    assert err.strip().splitlines() == [f"moecalc: error: {bad}:2: field 'hidden_size': "
                                        "Input should be a valid integer (got 'lots')"]


# --------------------------------------------------------------------------- moecalc import


def test_import_yaml_file(tmp_path):
    path = write(tmp_path, "spec.yaml", TINY)
    check_result(invoke("import", path), str(path), "config.json")


def test_import_missing_file(tmp_path):
    path = tmp_path / "config.json"
    check_result(invoke("import", path), str(path), "no such file")


def test_import_folder_without_config(tmp_path):
    check_result(invoke("import", tmp_path), str(tmp_path), "config.json")


@pytest.mark.parametrize("changes,needles", [
    ({"model_type": "frobnicator"}, ["model_type", "deepseek_v3"]),
    ({"hidden_size": "lots"}, ["hidden_size", "lots"]),
    ({"num_key_value_heads": 5}, ["divisible"]),
], ids=["unknown-model-type", "non-numeric", "fails-after-conversion"])
@pytest.mark.parametrize("with_output", [False, True], ids=["stdout", "output-file"])
def test_import_bad_config(tmp_path, changes, needles, with_output):
    src = tmp_path / "src"
    src.mkdir()
    path = write_config(src, **changes)
    dest = tmp_path / "dest"
    dest.mkdir()
    out = dest / "out.yaml"
    args = ["import", path] + (["-o", out] if with_output else [])
    check_result(invoke(*args), str(path), *needles)
    assert not out.exists()
    assert list(dest.iterdir()) == []              # no temporary file left behind


def test_import_error_after_conversion_names_config_key(tmp_path):
    path = write_config(tmp_path, num_key_value_heads=5)
    check_result(invoke("import", path), str(path), "num_key_value_heads")


def test_import_output_into_missing_folder(tmp_path):
    out = tmp_path / "no" / "such" / "folder" / "out.yaml"
    check_result(invoke("import", MIXTRAL, "-o", out), str(out.parent), "does not exist")
    assert not out.exists()
    assert not (tmp_path / "no").exists()


def test_import_output_is_a_folder(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    check_result(invoke("import", MIXTRAL, "-o", target), str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]
    assert list(target.iterdir()) == []


def test_import_empty_output_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_result(invoke("import", MIXTRAL, "-o", ""), "--output")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- hostile input that still crashes


def test_deeply_nested_yaml(tmp_path):
    path = write(tmp_path, "deep.yaml", "name: " + "[" * 2000 + "]" * 2000 + "\n")
    check_result(invoke("estimate", path), str(path))


def test_deeply_nested_json(tmp_path):
    path = write(tmp_path, "config.json", "[" * 100_000 + "]" * 100_000)
    check_result(invoke("estimate", path), str(path))


@pytest.mark.parametrize("text", ["hidden_size: !!int xyz\n", "hidden_size: !!float xyz\n",
                                  "name: tiny\nreleased: 2001-02-30\n"],
                         ids=["bad-int-tag", "bad-float-tag", "impossible-date"])
def test_yaml_tag_with_bad_value(tmp_path, text):
    path = write(tmp_path, "spec.yaml", text)
    check_result(invoke("estimate", path), str(path))


@pytest.mark.parametrize("text", ["name: !foo tiny\n", "name: !!python/object:os.system {}\n",
                                  "name: !!binary \"zzz\"\n"],
                         ids=["unknown-local-tag", "python-tag", "bad-binary"])
def test_yaml_unknown_tag(tmp_path, text):
    path = write(tmp_path, "spec.yaml", text)
    check_result(invoke("estimate", path), f"{path}:1:")
