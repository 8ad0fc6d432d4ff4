"""Shared test helpers. Tests never read ../shared: configs and published figures live in tests/data
(test_prices.py compares its copy of the hardware reference with ../shared where that is present)."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path

import pytest

# No test touches the network: huggingface_hub's side requests are off, and a connection to
# anything but this machine's loopback (the mock Hub of tests/hubfix.py) fails the test.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)
# moecalc's own cache (moecalc.cache) in a folder of this run, never the user's
import tempfile  # noqa: E402

os.environ["MOECALC_CACHE_DIR"] = tempfile.mkdtemp(prefix="moecalc-test-cache-")
_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        raise AssertionError(f"a test reached for the network: {address}")
    return _connect(self, address)


socket.socket.connect = _loopback_only


def _built_once():
    """typer's CliRunner builds the whole click group of the app on every invoke (~70 ms here for
    nine commands) and each parameter's pydantic coercion on first use (~40 ms a command); the
    CLI itself builds only the command that runs, once a process. Tests build the group once per
    set of registered commands and reuse it: click makes a fresh context for every invocation,
    so nothing of one run reaches the next (with the YAML parsed once in test_fuzz and pytest-xdist,
    the suite went from 161 s to 56 s here)."""
    import typer.main
    import typer.testing

    build, built = typer.main.get_command, {}

    def get_command(typer_instance):
        key = (id(typer_instance), tuple(id(c) for c in typer_instance.registered_commands),
               tuple(id(g) for g in typer_instance.registered_groups))
        if key not in built:           # the app kept beside its command: its id is never reused
            built[key] = (typer_instance, build(typer_instance))
        return built[key][1]

    typer.testing._get_command = get_command


_built_once()

from moecalc.spec.load import validate_spec

DATA = Path(__file__).parent / "data"
CONFIGS = DATA / "configs"

# A tiny MoE model small enough to count by hand (see test_engine_formulas.TINY_DERIVATION).
TINY = {
    "name": "tiny",
    "hidden_size": 64, "num_layers": 2, "vocab_size": 100,
    "attention": {"type": "gqa", "num_heads": 4, "num_kv_heads": 2, "head_dim": 16},
    "ffn": {"intermediate_size": 128},
    "moe": {"num_experts": 4, "top_k": 2, "expert_intermediate_size": 32, "num_shared_experts": 1,
            "first_k_dense": 1},
}


# A model known only by its totals: 100B total, 10B active, 64 experts, top 4, 32 layers.
SUMMARY = """
form: summary
name: secret-moe
total_params: 100e9
active_params: 10e9
num_experts: 64
top_k: 4
num_layers: 32
hidden_size: 4096
vocab_size: 32000
attention: {type: gqa, num_heads: 32, num_kv_heads: 8}
"""


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def tiny_spec(**over):
    return validate_spec(merge(TINY, over), "tiny (test)")


@pytest.fixture
def tiny():
    return tiny_spec()


# -- the error contract: exit 2, one stderr line, nothing on stdout ----------------------------
def run_main(args, capsys):
    """Run the console entry point; a normal return is what `sys.exit(main())` turns into exit 0."""
    try:
        from moecalc.cli import main

        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def check_error(code, stdout, stderr, *needles, exception=None) -> str:
    """Assert the contract; return the one error line."""
    assert code == 2, f"exit code {code}, stderr {stderr!r}, exception {exception!r}"
    assert stdout == "", f"stdout not empty: {stdout!r}"
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {stderr!r}"
    line = lines[0]
    assert line.startswith("moecalc: error: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def check_result(result, *needles) -> str:
    return check_error(result.exit_code, result.stdout, result.stderr, *needles, exception=result.exception)
