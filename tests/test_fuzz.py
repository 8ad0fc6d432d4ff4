"""The input contract under fuzzing (issue 20): whatever the input (option values, mutated specs
and configs, hardware files, load profiles, sweep plans), moecalc exits 0 with finite, valid
JSON, or exits 2 with one line on stderr; never a traceback, never a NaN, within a deadline.

Sized for CI (40 cases a test, about 20 s in all); MOECALC_FUZZ_EXAMPLES=N runs N cases per test locally.
The reproducers issue 20 listed are regression tests at the end.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from moecalc.cli import app

DATA = Path(__file__).parent / "data"
EXAMPLES = int(os.environ.get("MOECALC_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
runner = CliRunner()


@functools.cache
def _parsed(text: str):
    from moecalc.spec.yaml_io import parse_yaml       # libyaml, as moecalc reads its files

    return parse_yaml(text, "bundled")[0]


def parsed(text: str):
    """A fresh copy of YAML ``text`` parsed once (the pure-Python parser took half of this file's time)."""
    return copy.deepcopy(_parsed(text))


def dumped(data) -> str:
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))


def bundled_hardware() -> dict:
    return parsed((Path(__file__).parent.parent / "moecalc" / "data" / "hardware.yaml").read_text())

# values a user (or a script) might type, and the extremes that broke moecalc before
WEIRD = ["0", "1", "-1", "2", "3", "7", "8", "64", "1k", "16M", "1G", "1e400", "1e308", "nan", "inf", "-inf", "",
         " ", "1.5", "0.0", "x", "9" * 30, "18446744073709551617", "1:8:1", "1..64", "1:0:1", "1:8:0", "2..1",
         "h100", "all", "fp8", "bf16", "int4", "q4_k_m", "zipf:1.2", "dirichlet:0.5", "file:/dev/zero", "8:4",
         "none", "selective", "full", "disaggregated", "continuous", "\x00", "é", "1,2,,4", "-0", "1e-300"]
NUMERIC = ["batch", "context", "gpus", "tp", "ep", "dp", "pp", "isl", "osl", "mtp", "redundant-experts",
           "max-nodes-per-token", "gpus-per-node", "price-per-hour", "max-tpot-ms"]
OTHER = ["gpu", "weights-dtype", "kv-dtype", "routing", "groups", "mode", "capacity-factor", "overflow",
         "scale-out", "assume"]


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the console entry point, in this process."""
    import contextlib
    import io
    import traceback

    from moecalc.cli import main

    import warnings

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")         # a warning a user would see is printed every time
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:                       # what a user would see as a traceback
            traceback.print_exc(file=err)
            code = 1
    return code, out.getvalue(), err.getvalue()


def with_options(base: list[str], options) -> list[str]:
    """``base`` (a command, its model and --flag value pairs) with the fuzzed options given once each:
    a fuzzed option replaces the base's value, the last of two fuzzed values wins (giving a flag
    twice is an error a single test covers; here it would stop most cases before the engine)."""
    head = [a for a in base if not a.startswith("--")][:2]
    flags = dict(zip(base[2::2], base[3::2]))
    for name, value in options:
        flags[f"--{name}"] = value
    return [*head, *(a for kv in flags.items() for a in kv)]


def holds_contract(args: list[str], json_out: bool) -> None:
    """Exit 0 with valid, finite JSON (when JSON was asked for), or exit 2 with one line.

    A sweep also writes ``--output`` into a fresh folder: on exit 0 the file holds finite JSON
    rows, on exit 2 nothing is there; either way no temporary file is left behind. With
    MOECALC_FUZZ_LOG set, each case appends one JSON line (test, exit code, seconds, peak RSS so
    far, what went wrong) for tools/fuzz_campaign.py to count."""
    import resource
    import tempfile
    import time

    folder = tempfile.mkdtemp(prefix="fuzz-out-") if args[:1] == ["sweep"] else None
    if folder:
        args = [*args, "--output", os.path.join(folder, "rows.json")]
    t0 = time.perf_counter()
    code, stdout, stderr = run_cli(args)
    seconds = time.perf_counter() - t0
    problems = []
    try:
        if "Warning:" in stderr:
            problems.append("warning on stderr")
        if code == 0:
            if json_out:
                json.loads(stdout, parse_constant=_refuse_constant)
        elif code != 2:
            problems.append("traceback" if code == 1 else f"exit {code}")
        else:
            lines = stderr.strip().splitlines()
            if not (len(lines) == 1 and lines[0].startswith("moecalc: error: ")):
                problems.append("not one line")
    except ValueError:
        problems.append("non-finite or invalid JSON")
    if folder:
        left = sorted(os.listdir(folder))
        if code == 0 and os.path.exists(os.path.join(folder, "rows.json")):
            try:
                json.loads(Path(folder, "rows.json").read_text(), parse_constant=_refuse_constant)
            except ValueError:
                problems.append("half-written file")
            left.remove("rows.json")
        if left:
            problems.append("half-written file")
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    log = os.environ.get("MOECALC_FUZZ_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open(log, "a") as fh:
            fh.write(json.dumps({"test": test, "code": code, "seconds": round(seconds, 4), "rss_mib": round(rss, 1),
                                 "problems": problems, "args": args if problems else None}) + "\n")
    assert not problems, (problems, args, code, stderr[-3000:])


def _refuse_constant(constant):
    raise ValueError(f"{constant} in the JSON")


# values that should work, so that a good share of the cases get past validation into the engine
PLAUSIBLE = [("batch", "1"), ("batch", "8"), ("batch", "1,16,256"), ("context", "4k"), ("context", "128k"),
             ("context", "1k,32k"), ("gpus", "1"), ("gpus", "8"), ("gpus", "2,4,8"), ("tp", "1"), ("tp", "2"),
             ("tp", "8"), ("ep", "1"), ("ep", "8"), ("dp", "2"), ("pp", "2"), ("isl", "1000"), ("osl", "200"),
             ("mtp", "1"), ("redundant-experts", "8"), ("max-nodes-per-token", "1"), ("gpus-per-node", "4"),
             ("price-per-hour", "2.5"), ("max-tpot-ms", "50"), ("weights-dtype", "fp8"), ("weights-dtype", "int4"),
             ("kv-dtype", "fp8"), ("routing", "zipf:1.2"), ("routing", "dirichlet:0.5"), ("capacity-factor", "1.25"),
             ("overflow", "drop"), ("scale-out", "ib-ndr-400"), ("gpu", "h200"), ("gpu", "b200,mi300x")]
option = st.one_of(st.tuples(st.sampled_from(NUMERIC), st.sampled_from(WEIRD)),
                   st.tuples(st.sampled_from(OTHER), st.sampled_from(WEIRD)),
                   st.sampled_from(PLAUSIBLE))


@FUZZ
@given(st.sampled_from(["qwen3-30b-a3b", "deepseek-v3", "mixtral-8x7b", "llama-3.1-8b"]),
       st.lists(option, min_size=1, max_size=4), st.booleans())
def test_estimate_options(model, options, with_gpu):
    base = ["estimate", model, "--format", "json", *(["--gpu", "h100"] if with_gpu else [])]
    holds_contract(with_options(base, options), True)


@FUZZ
@given(st.lists(option, min_size=1, max_size=3))
def test_route_and_compare_options(options):
    holds_contract(with_options(["route", "qwen3-30b-a3b", "--format", "json"], options), True)
    args = with_options(["compare", "qwen3-30b-a3b", "--format", "json"], options)
    holds_contract([*args[:2], "llama-3.1-8b", *args[2:]], True)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["tokens", "gpus", "tp", "pp", "ep", "cp", "vp", "seq-len", "mfu",
                                           "micro-batch", "global-batch", "zero", "precision", "recompute",
                                           "price-per-hour", "pue", "train-overlap"]),
                          st.sampled_from(WEIRD + ["14.8T", "500B", "0.4", "2048"])), min_size=1, max_size=4))
def test_train_options(options):
    base = ["train", "qwen3-30b-a3b", "--tokens", "1T", "--gpu", "h100", "--gpus", "64", "--format", "json"]
    holds_contract(with_options(base, options), True)


@FUZZ
@given(st.lists(option, min_size=1, max_size=3))
def test_sweep_options(options):
    base = ["sweep", "qwen3-30b-a3b", "--gpu", "h100,l40s", "--gpus", "1..8", "--batch", "1,8,64", "--format", "json"]
    holds_contract(with_options(base, options), True)


# --- mutated inputs ----------------------------------------------------------------------------

VALUES = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.sampled_from([0, 1, 2, 3, 7, 64, 2**31, 2**63]),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                   st.text(max_size=8), st.lists(st.integers(0, 8), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                                 st.integers(), max_size=2))


def paths(obj, prefix=()):
    """Every (path, value) of a nested mapping."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,), v
            yield from paths(v, prefix + (k,))


def mutate(obj: dict, choice: int, value):
    out = copy.deepcopy(obj)
    every = list(paths(out))
    path = every[choice % len(every)][0]
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


@FUZZ
@given(st.sampled_from(["deepseek-v3", "mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-20b"]), st.integers(0, 10_000),
       VALUES)
def test_mutated_yaml_specs(tmp_path_factory, name, choice, value):
    from moecalc.spec.load import bundled_specs

    spec = parsed(bundled_specs()[name])
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(dumped(mutate(spec, choice, value)))
    holds_contract(["estimate", str(path), "--gpu", "h100", "--format", "json"], True)


@FUZZ
@given(st.sampled_from(sorted(p.name for p in (DATA / "configs").glob("*.json"))), st.integers(0, 10_000), VALUES)
def test_mutated_configs(tmp_path_factory, name, choice, value):
    cfg = json.loads((DATA / "configs" / name).read_text())
    path = tmp_path_factory.mktemp("cfg") / "config.json"
    try:
        path.write_text(json.dumps(mutate(cfg, choice, value)))
    except ValueError:                          # a value JSON cannot hold
        return
    holds_contract(["estimate", str(path), "--format", "json"], True)


@FUZZ
@given(st.one_of(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 2**70),
                                    st.text(max_size=3)), max_size=300),
                 st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
                 # one count per expert of qwen3-30b-a3b (128), plausible, and one layer or several
                 st.lists(st.integers(0, 10**6), min_size=128, max_size=128),
                 st.lists(st.lists(st.integers(0, 10**6), min_size=128, max_size=128), min_size=2, max_size=4),
                 # ... with an odd value among them
                 st.lists(st.one_of(st.integers(0, 10**6), st.floats(0, 1e6), st.sampled_from([0, 1e308, -1])),
                          min_size=128, max_size=128)))
def test_load_profiles(tmp_path_factory, counts):
    path = tmp_path_factory.mktemp("profile") / "load.json"
    try:
        path.write_text(json.dumps(counts))
    except ValueError:
        return
    holds_contract(["route", "qwen3-30b-a3b", "--routing", f"file:{path}", "--format", "json"], True)


@FUZZ
@given(st.integers(0, 10_000), VALUES)
def test_mutated_hardware_files(tmp_path_factory, choice, value):
    hw = bundled_hardware()
    small = {"accelerators": {"h100": hw["accelerators"]["h100"]}, "interconnects": hw["interconnects"]}
    path = tmp_path_factory.mktemp("hw") / "hw.yaml"
    path.write_text(dumped(mutate(small, choice, value)))
    holds_contract(["estimate", "qwen3-30b-a3b", "--gpu", "h100", "--hardware-file", str(path), "--format", "json"],
                   True)


# --- the reproducers of issue 20 ---------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["estimate", "qwen3-30b-a3b", "--gpu", "h100", "--pp", "16M"], "--pp"),
    (["estimate", "qwen3-30b-a3b", "--gpu", "h100", "--pp", "8192"], "give --gpus"),
    (["estimate", "qwen3-30b-a3b", "--context", "18446744073709551617"], "--context"),
    (["sweep", "qwen3-30b-a3b", "--gpu", "h100", "--batch", "1:100000000:1"], "--batch"),
    (["sweep", "qwen3-30b-a3b", "--gpu", "h100", "--context", "1:70000:1"], "at most 65,536"),
    (["estimate", "/dev/zero"], "not a regular file"),
])
def test_reproducers_are_one_line(args, needle):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_reproducer_files(tmp_path):
    base = json.loads((DATA / "configs" / "qwen3-30b-a3b.json").read_text())
    cases = {
        "dtype.json": json.dumps(dict(base, torch_dtype=["bfloat16"])),
        "wide.json": json.dumps(dict(base, num_experts=2**64)),
        "digits.json": json.dumps(base)[:-1] + ', "x": ' + "9" * 5000 + "}",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        result = runner.invoke(app, ["estimate", str(tmp_path / name)])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
    (tmp_path / "huge.csv").write_text("expert,count\n0," + "9" * 200_000 + "\n")
    result = runner.invoke(app, ["route", "qwen3-30b-a3b", "--routing", f"file:{tmp_path / 'huge.csv'}"])
    assert result.exit_code == 2 and "not a CSV" in result.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["estimate", str(fifo)])
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def test_counts_near_the_float_limit_give_finite_shares(tmp_path):
    """1e308 per expert: the sum overflows, the shares (all equal) do not."""
    (tmp_path / "p.json").write_text(json.dumps([1e308] * 128))
    result = runner.invoke(app, ["route", "qwen3-30b-a3b", "--routing", f"file:{tmp_path / 'p.json'}", "--format",
                                 "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert all(math.isfinite(v) for v in data["experts"]["expected_share"])


def test_a_width_that_wrapped_int64_is_refused():
    """Mixtral with a 1.126e15-wide expert reported -1.18e21 parameters before."""
    text = (Path(__file__).parent.parent / "moecalc" / "model_specs" / "mixtral-8x7b.yaml").read_text()
    spec = yaml.safe_load(text)
    spec["moe"]["expert_intermediate_size"] = 1126000000000000
    from moecalc.errors import MoecalcError
    from moecalc.spec.load import validate_spec

    with pytest.raises(MoecalcError, match="expert_intermediate_size"):
        validate_spec(spec, "mixtral.yaml")


def test_sweep_rows_write_a_missing_price_as_null(tmp_path):
    out = tmp_path / "rows.json"
    result = runner.invoke(app, ["sweep", "qwen3-30b-a3b", "--gpu", "all", "--gpus", "1,2", "--batch", "1",
                                 "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in rows"))
    assert rows and any(r["usd_per_million_output_tokens"] is None for r in rows)


def test_every_problem_is_named_in_the_one_line(tmp_path):
    """A typo'd key (experts:) reports the unknown key and the required one it should have been."""
    text = (Path(__file__).parent.parent / "moecalc" / "model_specs" / "mixtral-8x7b.yaml").read_text()
    spec = yaml.safe_load(text)
    spec["moe"]["experts"] = spec["moe"].pop("num_experts")
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(["estimate", str(tmp_path / "typo.yaml")])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "moe.num_experts" in err and "moe.experts" in err and "; " in err and "more problem" not in err


def test_concurrent_writers_cannot_both_win(tmp_path):
    """Without --force the file is created exclusively: of two writers, the second is refused,
    the first's bytes stay, and no temporary file is left."""
    from moecalc.errors import MoecalcError
    from moecalc.files import atomic_writer

    target = str(tmp_path / "out.json")
    with pytest.raises(MoecalcError, match="exists"):
        with atomic_writer(target) as first:
            first.write("first")
            with atomic_writer(target) as second:      # checked before: the file does not exist yet
                second.write("second")
            # the second is now in place; the first's commit must be refused, not clobber it
    assert Path(target).read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_sigterm_leaves_no_partial_file(tmp_path):
    """A long sweep writing --output, terminated: exit 143, one line, nothing left behind."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "rows.csv"
    proc = subprocess.Popen([sys.executable, "-m", "moecalc", "sweep", "deepseek-v3", "--gpu", "all", "--gpus",
                             "1..1024", "--tp", "1..8", "--ep", "1..256", "--batch", "1:256:1", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MOECALC_CACHE_DIR": "off"})
    deadline = time.time() + 20
    while time.time() < deadline and not any(tmp_path.iterdir()):      # the writer's temporary file
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip() == "moecalc: terminated"
    assert list(tmp_path.iterdir()) == []


def test_control_characters_in_keys_stay_on_one_line(tmp_path):
    """Found by a 2,500-case run: a YAML key holding \\x1e (a line boundary to str.splitlines)
    split the error line in two."""
    text = (Path(__file__).parent.parent / "moecalc" / "model_specs" / "mixtral-8x7b.yaml").read_text()
    spec = yaml.safe_load(text)
    spec["moe"] = {"\x1e": 0, "new\nline": 1}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    code, _, err = run_cli(["estimate", str(tmp_path / "s.yaml")])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "\\x1e" in err


def test_a_trace_is_bounded_whatever_the_tokens(monkeypatch):
    """route --tokens 2^24 drew every token (about 5 minutes for Kimi K2's 384 experts); now at
    most 2 x EXACT_TOKENS are drawn, the rest scaled from the second draw with the exact mean
    and covariance: each token still makes exactly k assignments in the total."""
    import numpy as np

    import moecalc.trace as trace
    from moecalc.engine.routing.law import solve

    drawn = []
    real = trace.sample_sets
    monkeypatch.setattr(trace, "sample_sets", lambda r, n, rng: (drawn.append(n), real(r, n, rng))[1])
    law = solve(np.linspace(0.05, 0.2, 64) * 8 / np.linspace(0.05, 0.2, 64).sum())   # uneven, top-8 of 64
    tokens = 1 << 24
    counts, touched = trace.expert_counts(law, tokens, np.random.default_rng(0))
    assert sum(drawn) == 2 * trace.EXACT_TOKENS
    assert counts.sum() == pytest.approx(tokens * 8, rel=1e-12) and touched.all()
    # each expert's count: mean N pi_j, sd at most sqrt(N pi_j (1 - pi_j)) (about 1,400): within 6 sd
    assert (np.abs(counts - tokens * law.pi) < 6 * np.sqrt(tokens * law.pi * (1 - law.pi))).all()


def test_a_price_near_the_float_limit_is_refused(tmp_path):
    """Found by the 20,000-case campaign: a hardware file's price of 1.8e308 made an infinite
    cost, and the JSON writer stopped with a traceback (exit 1)."""
    hw = bundled_hardware()
    small = {"accelerators": {"h100": dict(hw["accelerators"]["h100"], price_usd_per_hour=1.7976931348623157e308)},
             "interconnects": hw["interconnects"]}
    (tmp_path / "hw.yaml").write_text(yaml.safe_dump(small))
    code, _, err = run_cli(["estimate", "qwen3-30b-a3b", "--gpu", "h100", "--hardware-file", str(tmp_path / "hw.yaml"),
                            "--format", "json"])
    assert code == 2 and "price_usd_per_hour" in err and len(err.strip().splitlines()) == 1
