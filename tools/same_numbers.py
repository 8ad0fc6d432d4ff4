#!/usr/bin/env python3
"""Do two versions of moecalc print the same numbers?

Runs a fixed set of commands (every bundled model, every distinct reference-check call of
tests/data/public_checks.json, and representative estimate / compare / route / sweep runs)
with the working tree and with another git revision, and compares their ``--format json``
output exactly (parsed JSON, floats bit for bit). Timing keys of a sweep summary are ignored.

    python tools/same_numbers.py --against 84a8a7f          # exit 0: identical everywhere
    python tools/same_numbers.py --against HEAD~3 --tables  # also compare the table views
    python tools/same_numbers.py --against 3f6888a --now-args "--assume profile=bound" --new-keys
        # the working tree's bound against a revision before the calibrated model: the same
        # numbers under every key the old one printed


Dev only; needs git. The other revision is exported with ``git archive`` into a temporary
folder and run with ``python -m moecalc`` from there, under this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
IGNORED = {("summary", "seconds"), ("summary", "configs_per_s"), ("summary", "seconds_since_start"),
           ("summary", "configs_per_s_engine")}          # timings
REL = 0.0                       # --rel: floats this close (relative) are the same
NEW_KEYS_ALLOWED = False        # --new-keys: keys only the working tree prints are not differences

SUMMARY_SPEC = """\
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

SWEEP_PLAN = """\
gpu: [h100, h200]
gpus: 1..16
tp: [1, 2, 4, 8]
batch: 1..512
context: [4096, 32k]
objective: throughput
max_tpot_ms: 80
"""

PROFILE = "\n".join(str(c) for c in [300, 250, 40, 30, 20, 10, 5, 5])


def representative(tmp: Path) -> list[list[str]]:
    """Ten-plus commands that cover every path from the CLI to the engine."""
    (tmp / "summary.yaml").write_text(SUMMARY_SPEC)
    (tmp / "plan.yaml").write_text(SWEEP_PLAN)
    (tmp / "loads.csv").write_text(PROFILE + "\n")
    s, p, l = str(tmp / "summary.yaml"), str(tmp / "plan.yaml"), str(tmp / "loads.csv")
    return [
        ["estimate", "deepseek-v3", "--context", "32k", "--batch", "8"],
        ["estimate", "deepseek-v3", "--gpu", "h200", "--batch", "64"],
        ["estimate", "deepseek-v3", "--gpu", "h100", "--gpus", "32", "--tp", "8", "--dp", "4", "--ep", "32",
         "--max-nodes-per-token", "2", "--redundant-experts", "32", "--batch", "256", "--assume", "comm_overlap=true"],
        ["estimate", "deepseek-v3", "--gpu", "h800", "--gpus", "64", "--tp", "1", "--dp", "64", "--ep", "64",
         "--scale-out", "ib-ndr-400g", "--dispatch-dtype", "bf16", "--link-efficiency", "0.6", "--batch", "128",
         "--groups", "none"],
        ["estimate", "mixtral-8x7b", "--gpu", "h100", "--gpus", "2", "--context", "32k", "--batch", "16",
         "--kv-dtype", "fp8", "--price-per-hour", "3.1", "--assume", "load_fluctuation=false"],
        ["estimate", "qwen3-235b-a22b", "--gpu", "b200", "--gpus", "8", "--routing", "zipf:1.2",
         "--capacity-factor", "1.25", "--batch", "32"],
        ["estimate", "qwen3-30b-a3b", "--gpu", "h100", "--gpus", "4", "--ep", "4", "--routing", "dirichlet:0.5",
         "--capacity-factor", "1.0", "--overflow", "reroute", "--seed", "3", "--batch", "64"],
        ["estimate", "llama-4-scout", "--gpu", "a100-80gb", "--gpus", "4", "--pp", "2", "--tp", "2",
         "--context", "128k", "--batch", "4", "--weights-dtype", "int4"],
        ["estimate", "gpt-oss-120b", "--gpu", "mi300x", "--gpus", "1", "--batch", "32",
         "--assume", "mfu=0.3", "--assume", "runtime_overhead_bytes=4GiB"],
        ["estimate", "llama-3.1-70b", "--gpu", "l40s", "--gpus", "8", "--price-per-hour", "1.2"],
        ["estimate", s, "--gpu", "h200", "--batch", "16"],
        ["estimate", s],
        ["estimate", str(DATA / "configs" / "kimi-k2.json"), "--gpu", "h200", "--gpus", "16"],
        ["compare", "deepseek-v3", "llama-3.1-70b", "--dense-equivalents", "--gpu", "h200", "--batch", "16"],
        ["compare", "qwen3-30b-a3b", "qwen3-8b", "mixtral-8x7b"],
        ["route", "deepseek-v3", "--routing", "zipf:1.5", "--ep", "8", "--redundant-experts", "32"],
        ["route", "mixtral-8x7b", "--routing", f"file:{l}", "--ep", "4", "--capacity-factor", "1.5", "--tokens", "2048"],
        ["sweep", "qwen3-30b-a3b", "--gpu", "h100,h200", "--gpus", "1..8", "--batch", "1..256"],
        ["sweep", "deepseek-v3", "--gpu", "h200,b200,mi325x", "--gpus", "4..32", "--routing", "dirichlet:0.5",
         "--max-tpot-ms", "50", "--batch", "1..512"],
        ["sweep", "mixtral-8x7b", "--sweep", p, "--top", "5"],
        ["sweep", "deepseek-v3", "--gpu", "h100", "--gpus", "1,2", "--max-ttft-ms", "1"],
        ["hardware"], ["hardware", "--interconnects"], ["models"],
    ]


def commands(tmp: Path) -> list[list[str]]:
    """Every command compared, each without ``--format`` (added per view)."""
    bundled = sorted(p.stem for p in (ROOT / "model_specs").glob("*.yaml"))
    out = [["estimate", name] for name in bundled]
    checks = json.loads((DATA / "public_checks.json").read_text())["checks"]
    seen = []
    for check in checks:
        call = ["estimate", str(DATA / check["config"])] + check.get("args", [])
        if call not in seen:
            seen.append(call)
    return out + seen + representative(tmp)


def run(tree: Path, args: list[str], fmt: str, extra: list[str] = ()) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="120")
    if extra and ("--gpu" in args or args[0] in ("sweep", "route")):
        args = [*args, *extra]
    p = subprocess.run([sys.executable, "-m", "moecalc", *args, "--format", fmt], capture_output=True,
                       text=True, env=env, cwd=tree)
    return p.returncode, p.stdout, p.stderr


def differences(a, b, path=()) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in dict.fromkeys([*a, *b]):
            if path + (k,) in IGNORED:
                continue
            if k not in a and NEW_KEYS_ALLOWED:
                continue
            if k not in a or k not in b:
                out.append(".".join(map(str, path + (k,))) + (" only after" if k not in a else " only before"))
            else:
                out += differences(a[k], b[k], path + (k,))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [".".join(map(str, path)) + f": {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, path + (i,))]
    if (isinstance(a, float) and isinstance(b, float) and REL and a == a and b == b
            and abs(a - b) <= REL * max(abs(a), abs(b))):
        return []
    if a != b and not (a != a and b != b):
        return [".".join(map(str, path)) + f": {a!r} -> {b!r}"]
    return []


def untimed(text: str) -> str:
    """A table view without the sweep's timing (``in 0.41 s (1,234 per second)``)."""
    return re.sub(r"in [0-9.,]+ s \([0-9,]+ per second\)", "in T s", text)


def export(rev: str, where: Path) -> Path:
    archive = where / "old.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), rev], check=True)
    tree = where / "old"
    with tarfile.open(archive) as t:
        t.extractall(tree)
    return tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="git revision to compare with (e.g. 84a8a7f)")
    ap.add_argument("--tables", action="store_true", help="also compare the table views")
    ap.add_argument("--now-args", default="", help="arguments added to the working tree's estimate, compare, "
                                                   "sweep and route commands (e.g. \"--assume profile=bound\")")
    ap.add_argument("--rel", type=float, default=0.0, help="floats within this relative difference are the same "
                                                          "(a reordered sum differs in its last bit)")
    ap.add_argument("--new-keys", action="store_true", help="keys only the working tree prints are no difference")
    args = ap.parse_args()
    global NEW_KEYS_ALLOWED, REL
    NEW_KEYS_ALLOWED, REL = args.new_keys, args.rel
    extra = args.now_args.split()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old = export(args.against, tmp)
        cmds = commands(tmp)
        views = ["json"] + (["table"] if args.tables else [])
        jobs = [(c, v) for c in cmds for v in views]
        with ThreadPoolExecutor(max_workers=4) as pool:
            before = list(pool.map(lambda j: run(old, *j), jobs))
            after = list(pool.map(lambda j: run(ROOT, *j, extra), jobs))
    bad, errors = 0, 0
    for (cmd, view), (c0, o0, e0), (c1, o1, e1) in zip(jobs, before, after):
        shown = "moecalc " + " ".join(a if "/" not in a else Path(a).name for a in cmd) + f" --format {view}"
        if c0 != c1:
            problems = [f"exit {c0} -> {c1}: {e1.strip()[-300:] or e0.strip()[-300:]}"]
        elif c0 != 0:
            errors += 1
            problems = [] if e0 == e1 else [f"stderr {e0.strip()!r} -> {e1.strip()!r}"]
        elif view == "json":
            problems = differences(json.loads(o0), json.loads(o1))
        else:
            problems = [] if untimed(o0) == untimed(o1) else ["table text differs"]
        if problems:
            bad += 1
            print(f"DIFF {shown}")
            for p in problems[:12]:
                print(f"     {p}")
            if len(problems) > 12:
                print(f"     ... {len(problems) - 12} more")
    print(f"{len(jobs) - bad} of {len(jobs)} outputs identical to {args.against} "
          f"({errors} of them the same error message in both)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
