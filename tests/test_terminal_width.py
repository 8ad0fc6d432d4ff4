"""Narrow terminals and long commands (issue 21): the README's commands at 80 and 120 columns cut
no identifier (no ellipsis, every model key, repository id, GPU, interconnect and host key and
option name whole on its line, as often as at a wide terminal); the progress bar shows on a
terminal after a second and nowhere else, and never changes what a command prints."""

from __future__ import annotations

import functools
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from moecalc.cli import app
from moecalc.render import progress as prog
from moecalc.render import units as u

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"
WIDE = 400
# commands the README names inline (`moecalc models`, ...) and the slow route
EXTRA = ["models", "hardware", "hardware --interconnects", "hardware --hosts", "route kimi-k2 --routing zipf:1.2"]


def readme_commands() -> list[str]:
    """Every ``moecalc ...`` line of README.md's bash blocks and run markers that needs neither the
    network nor a file of the reader's (a Hub id or a path as the model) nor writes one (--plot)."""
    text = README.read_text()
    lines = re.findall(r"^moecalc (.+?)(?:\s+#.*)?$", text, flags=re.M)
    lines += re.findall(r"<!-- run: moecalc (.+?) -->", text)
    out = []
    for line in lines:
        args = shlex.split(line)
        model = args[1] if len(args) > 1 else ""
        if "/" in model or "--plot" in args or "--output" in args:
            continue
        if line not in out:
            out.append(line)
    return out


COMMANDS = readme_commands() + EXTRA


@functools.lru_cache(maxsize=None)
def render(command: str, width: int) -> str:
    result = runner.invoke(app, shlex.split(command), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


@functools.lru_cache(maxsize=1)
def identifiers() -> list[str]:
    """Model keys, display names and repository ids; GPU, interconnect and host keys."""
    from moecalc.hardware import load_catalog
    from moecalc.listings import bundled_summary, hardware_rows, host_rows, interconnect_rows
    from moecalc.render.table import _short_source
    from moecalc.spec.load import load

    models = bundled_summary()
    catalog = load_catalog()
    ids = [m["name"] for m in models] + [load(m["name"], True)[0].name for m in models]
    ids += [_short_source(m["source"]) for m in models if m["source"]]
    ids += [r["gpu"] for r in hardware_rows(catalog)] + [r["interconnect"] for r in interconnect_rows(catalog)]
    ids += [r["host"] for r in host_rows(catalog)]
    return sorted({i for i in ids if i})


def occurrences(ident: str, text: str) -> int:
    """Whole occurrences: not part of a longer name (gb200 holds b200, org/Repo holds Repo)."""
    return len(re.findall(r"(?<![\w./-])" + re.escape(ident) + r"(?![\w/-]|\.\w)", text))


def test_the_walk_covers_the_readme():
    assert len(readme_commands()) >= 6
    assert any(c.startswith("route ") for c in COMMANDS) and any(c.startswith("sweep ") for c in COMMANDS)


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", COMMANDS)
def test_no_identifier_cut_or_wrapped(command, width):
    text, wide = render(command, width), render(command, WIDE)
    assert "…" not in text, f"an ellipsis at {width} columns:\n{text}"
    # a command to paste is printed as one soft-wrapped line; every other line fits the width
    assert max(len(line) for line in text.splitlines() if not line.startswith("moecalc ")) <= width
    for ident in identifiers():
        assert occurrences(ident, text) == occurrences(ident, wide), f"{ident!r} cut or wrapped at {width}:\n{text}"
    for option in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*", wide)):
        assert occurrences(option, text) == occurrences(option, wide), f"{option} broken at {width}:\n{text}"


@pytest.mark.parametrize("width", [80, 120])
def test_models_keys_and_repositories_whole_on_a_line(width):
    from moecalc.listings import bundled_summary
    from moecalc.render.table import _short_source

    lines = render("models", width).splitlines()
    for m in bundled_summary():
        for ident in (m["name"], _short_source(m["source"])):
            assert any(occurrences(ident, line) for line in lines), f"{ident} not whole on one line at {width}"


def test_models_at_80_put_the_repository_under_the_name():
    lines = render("models", 80).splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["llama-4-maverick"])
    assert lines[at + 1].strip() == "meta-llama/Llama-4-Maverick-17B-128E-Instruct"
    wide = render("models", 120).splitlines()     # 120 columns hold the one-line layout
    assert any("llama-4-maverick" in line and "meta-llama/Llama-4-Maverick-17B-128E-Instruct" in line for line in wide)


def test_hardware_header_and_prices_whole_at_80():
    text = render("hardware", 80)
    assert "scale-up" in text and "x GPUs" in text and "$/GPU-h" in text
    assert re.search(r"^ gb300 .* 15,000 .* 900 x72 ", text, flags=re.M)


def test_compare_splits_its_columns_rather_than_cut_them():
    text = render("compare qwen3-30b-a3b qwen3-8b --dense-equivalents --gpu h100", 80)
    assert "Side by side, continued" in text and "dense-equal-active" in text
    assert "Side by side, continued" not in render("compare qwen3-30b-a3b qwen3-8b --dense-equivalents --gpu h100", 120)


def test_route_costs_stand_apart_from_the_note_above():
    lines = render("route deepseek-v3 --routing zipf:1.2 --ep 32 --redundant-experts 32", 80).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("What it costs"))
    assert lines[at - 1].strip() == "" and lines[at - 2].strip()


def test_a_change_that_rounds_to_zero_has_no_sign():
    assert [u.change(x) for x in (-0.001, 0.004, 0.0, -0.0, -0.03, 0.43, 1.09)] == \
        ["0%", "0%", "0%", "0%", "-3%", "+43%", "+109%"]
    # a skew this mild moves TPOT by -0.2%: shown as 0%, never -0%
    text = render("route qwen3-30b-a3b --routing zipf:0.2", 120)
    assert "-0%" not in text and "+0%" not in text and re.search(r"^ TPOT .*\(0%\)", text, flags=re.M)


# --- progress -------------------------------------------------------------------------------

class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tty_console(file=None) -> Console:
    return Console(file=file if file is not None else Tty(), force_terminal=True, width=80)


def test_progress_is_silent_off_a_terminal():
    """A pipe (even with FORCE_COLOR, which rich counts as a terminal) gets nothing."""
    plain = io.StringIO()
    for console in (Console(file=plain), Console(file=plain, force_terminal=True)):
        with prog.progress("working", console=console, delay=0) as update:
            for done in range(5):
                update(done, 5)
    assert plain.getvalue() == ""


def test_progress_shows_on_a_terminal_only_after_the_delay():
    out, clock = Tty(), Clock()
    with prog.progress("working", console=tty_console(out), delay=1.0, clock=clock) as update:
        clock.now = 0.5
        update(1, 10)
        assert out.getvalue() == ""                  # under a second: nothing
        clock.now = 1.2
        update(2, 10)
        assert "working" in out.getvalue() and "20%" in out.getvalue()
    assert "\x1b[?25h" in out.getvalue()              # stopped: the cursor is back


def test_progress_never_starts_for_finished_work():
    out, clock = Tty(), Clock()
    with prog.progress("working", console=tty_console(out), delay=1.0, clock=clock) as update:
        clock.now = 5.0
        update(10, 10)
    assert out.getvalue() == ""


def test_library_progress_callbacks():
    from moecalc.compare import compare
    from moecalc.routers import Routing
    from moecalc.spec.load import load
    from moecalc.trace import SAMPLE_CHUNK, trace

    spec = load("qwen3-30b-a3b", True)[0]
    calls = []
    tokens = 2 * SAMPLE_CHUNK + 7
    trace(spec, Routing(kind="zipf", value=1.2), tokens, on_progress=lambda d, t: calls.append((d, t)))
    # 65,536 tokens drawn one by one in two chunks, then a second draw of 65,536 that the other
    # 7 are scaled from (trace.EXACT_TOKENS): four chunks, 131,072 draws in all
    total = 4 * SAMPLE_CHUNK
    assert calls == [(SAMPLE_CHUNK, total), (2 * SAMPLE_CHUNK, total), (3 * SAMPLE_CHUNK, total), (total, total)]
    calls.clear()
    compare([(spec, "a"), (load("qwen3-8b", True)[0], "b")], dense_equivalents=True,
            on_progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("command", ["route qwen3-30b-a3b --routing zipf:1.2 --tokens 70000 --format json",
                                     "route qwen3-30b-a3b --routing zipf:1.2 --tokens 70000",
                                     "compare qwen3-30b-a3b qwen3-8b --dense-equivalents --format json",
                                     "sweep qwen3-30b-a3b --gpu h100 --gpus 1..4 --batch 1..64 --format csv"])
def test_a_shown_bar_leaves_stdout_byte_identical(command, monkeypatch):
    """With a terminal on stderr and no delay the bar shows; stdout is what it is without it."""
    plain = runner.invoke(app, shlex.split(command), env={"COLUMNS": "100"})
    assert plain.exit_code == 0, plain.stderr
    out = Tty()
    monkeypatch.setattr(prog, "stderr_console", lambda: tty_console(out))
    monkeypatch.setattr(prog, "DELAY", 0.0)
    monkeypatch.setattr("moecalc.sweep.CHUNK", 1)       # a small sweep in many blocks
    shown = runner.invoke(app, shlex.split(command), env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.stderr
    assert "%" in out.getvalue()                      # the bar was drawn
    summary = re.compile(r"in \d+\.\d+ s \([\d,]+ per second\)|\"seconds_since_start\": [\d.e-]+|"
                         r"\"configs_per_s\": [\d.e+-]+")
    assert summary.sub("", shown.stdout) == summary.sub("", plain.stdout)
    assert shown.stderr == plain.stderr
    if "json" in command:
        json.loads(shown.stdout)
