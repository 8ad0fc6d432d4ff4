"""The command-line options: declared once (``moecalc.options``), present with the same help on
every command that serves, typed once, and the commands' own examples run."""

from __future__ import annotations

import json
import shlex

import pytest
from typer.core import TyperArgument
from typer.main import get_command
from typer.testing import CliRunner

from conftest import check_result
from moecalc.cli import app
from moecalc.options import DECLARED, SERVING, flag

runner = CliRunner()
SERVING_COMMANDS = ("estimate", "compare", "sweep", "route")
CLICK = get_command(app)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def options_of(command: str) -> dict:
    """``--flag`` -> the click option, for one command."""
    return {o: p for p in CLICK.commands[command].params if not isinstance(p, TyperArgument) for o in p.opts}


@pytest.mark.parametrize("command", SERVING_COMMANDS)
def test_every_serving_option_on_every_serving_command(command):
    """The drift this replaces: --scale-out missing from compare and route, --pp and the dtypes
    from route, the wire dtypes and --link-efficiency on estimate only."""
    have = options_of(command)
    for group in SERVING:
        for name, f in group.model_fields.items():
            assert flag(name) in have, f"{command} lacks {flag(name)}"
            p = have[flag(name)]
            assert p.help == f.description
            assert p.metavar == f.json_schema_extra["metavar"]
            assert set(f.json_schema_extra["aliases"]) <= set(p.opts)


def test_the_shared_options_have_one_help_each():
    """Every declared option reads the same wherever it appears (not only the serving ones)."""
    seen = {}
    for command in CLICK.commands:
        for o, p in options_of(command).items():
            name = o.lstrip("-").replace("-", "_")
            if name in DECLARED:
                seen.setdefault(o, set()).add(p.help)
    assert seen and all(len(helps) == 1 for helps in seen.values()), seen


@pytest.mark.parametrize("command", sorted(CLICK.commands))
def test_every_command_has_examples_and_real_metavars(command):
    cmd = CLICK.commands[command]
    assert "moecalc " + command in (cmd.epilog or ""), f"{command} --help shows no example"
    for p in cmd.params:
        if not isinstance(p, TyperArgument) and not p.is_flag:
            assert p.metavar and p.metavar.isupper() or ":" in p.metavar, (command, p.opts, p.metavar)


def _examples():
    for name, cmd in CLICK.commands.items():
        for line in (cmd.epilog or "").splitlines():
            line = line.strip()
            if line.startswith("moecalc ") and not any(f in line for f in (".yaml", ".json", "./", ">")):
                yield shlex.split(line)[1:]


@pytest.mark.parametrize("args", list(_examples()), ids=lambda a: " ".join(a))
def test_the_help_examples_run(args):
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr


def test_an_option_typed_twice_is_an_error():
    """``compare --gpu h100 --gpu h200`` used to keep the h200 silently."""
    check_result(invoke("compare", "mixtral-8x7b", "--gpu", "h100", "--gpu", "h200"),
                 "'--gpu'", "given 2 times", "h100, h200")
    check_result(invoke("sweep", "mixtral-8x7b", "--tp", "1", "--tp", "2"), "'--tp'", "comma-separated list")


def test_assume_is_repeatable():
    result = invoke("estimate", "mixtral-8x7b", "--gpu", "h100", "-a", "mfu=0.5", "-a", "comm_overlap=true",
                    "-f", "json")
    assumptions = json.loads(result.stdout)["assumptions"]
    assert assumptions["mfu"] == 0.5 and assumptions["comm_overlap"] == 1.0


def test_route_takes_the_workload_dtypes_and_the_scale_out():
    """Route used to have no --weights-dtype, --kv-dtype, --pp, --gpus-per-node or --scale-out."""
    def cost(*extra):
        out = json.loads(invoke("route", "deepseek-v2-lite", "--gpu", "h100", "--ep", "2", "-f", "json", *extra).stdout)
        return out["cost"]["routed"]["tpot_seconds"]

    base = cost()
    assert cost("--weights-dtype", "fp8") < base        # half the weight bytes read per step
    assert cost("--kv-dtype", "fp8") < base              # half the cache bytes
    out = json.loads(invoke("route", "deepseek-v3", "--gpu", "h200", "--ep", "16", "--scale-out", "roce-200g",
                            "-f", "json").stdout)
    assert out["deployment"]["nodes"] == 2


def test_shorthands_set_their_assumptions_on_the_sweep():
    result = invoke("sweep", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--tp", "2", "--batch", "8",
                    "--link-efficiency", "0.5", "--combine-dtype", "fp8", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assumptions = json.loads(result.stdout)["top"][0]["assumptions"]
    assert assumptions["scaleup_efficiency"] == assumptions["scaleout_efficiency"] == 0.5
    assert assumptions["combine_dtype"] == "fp8"


# --------------------------------------------------------------------------- written files


def test_an_existing_file_is_replaced_only_with_force(tmp_path):
    """One rule for every file moecalc writes: ``import -o`` used to overwrite silently."""
    from pathlib import Path

    config = Path(__file__).parent / "data" / "configs" / "mixtral-8x7b.json"
    target = tmp_path / "m.yaml"
    target.write_text("mine\n")
    check_result(invoke("import", config, "-o", target), str(target), "exists", "--force")
    assert target.read_text() == "mine\n"
    rows = tmp_path / "rows.csv"
    rows.write_text("mine\n")
    check_result(invoke("sweep", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "-o", rows), str(rows), "--force")
    assert rows.read_text() == "mine\n"
    assert invoke("import", config, "-o", target, "--force").exit_code == 0
    assert target.read_text().startswith("# Generated by")


# --------------------------------------------------------------------------- small defects


def test_a_load_profile_over_the_size_limit_says_so(tmp_path):
    """The profile reader had its own 10 MiB limit, dead behind the spec reader's 1 MiB."""
    big = tmp_path / "loads.csv"
    big.write_text("1\n" * (600_000))
    check_result(invoke("route", "deepseek-v2-lite", "--routing", f"file:{big}"), str(big), "1,048,576-byte limit",
                 "a load profile")


def test_assumptions_render_by_their_kind():
    """``--assume logits_bytes=4`` (a count) used to show as 0.00 GiB; sizes still show in GiB."""
    table = invoke("estimate", "mixtral-8x7b", "--assume", "logits_bytes=4").stdout
    rows = {line.split()[0]: line.split()[1:3] for line in table.splitlines() if line.strip()}
    assert rows["logits_bytes"][0] == "4"
    assert rows["runtime_overhead_bytes"] == ["2.00", "GiB"]


@pytest.mark.parametrize("command", ["estimate", "compare", "sweep", "route", "train", "import"])
def test_help_shows_square_brackets(command):
    """rich markup read ``moecalc[plot]`` and ``org/name[@revision]`` as style tags and printed
    "needs moecalc" and "org/name": every help text with a bracket is shown whole."""
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    params = CLICK.commands[command].params
    texts = [p.help.replace("\\[", "[") for p in params if "[" in (getattr(p, "help", None) or "")]
    assert texts
    for text in texts:
        assert " ".join(text.split()) in " ".join(result.stdout.replace("│", " ").split()), text


def test_plain_option_values_skip_pydantic_but_agree_with_it():
    """The CLI hands typer a stand-in for its pydantic adapter of str, bool and list[str] options
    (moecalc.cli.app._PlainValues, 45 ms of each start): for what click passes it returns what
    typer's adapter returns, and for anything else it is typer's adapter."""
    from typing import List, Optional

    import typer

    _adapters = pytest.importorskip("typer._adapters")     # typers before the adapters take no stand-in

    from moecalc.cli.app import _PlainValues

    info = typer.Option(None)
    build = _adapters.build_adapter
    for annotation, values in ((str, ["h100", "", "é"]), (bool, [True, False]),
                               (List[str], [("a", "b"), ["x"], ()])):
        fast, real = _PlainValues(build, annotation, info), build(annotation, info)
        for value in values:
            assert fast.validate_python(value) == real.validate_python(value), (annotation, value)
        assert fast._adapter is None                       # never built for these
    slow = _PlainValues(build, str, info)
    assert slow.validate_python(b"bytes") == build(str, info).validate_python(b"bytes")
    assert slow._adapter is not None
    assert isinstance(_adapters.try_build_adapter(str, info), _PlainValues)
    assert not isinstance(_adapters.try_build_adapter(Optional[int], info), _PlainValues)
