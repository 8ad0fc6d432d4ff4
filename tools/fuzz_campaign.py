#!/usr/bin/env python3
"""A long local fuzz campaign over the input contract (issue 20), counted per input kind.

Runs tests/test_fuzz.py's property tests with MOECALC_FUZZ_EXAMPLES=N (N cases per test; the
route/compare test runs two commands a case) and a per-case log, then prints one row per input
kind: CLI runs, tracebacks (exit 1), other broken contracts (not one line, other exit codes),
runs over 5 s, the processes' peak RSS (pytest-xdist runs a worker per core, each case in its
worker's process, so a case over 1 GB would show as that worker's peak over 1 GB; each case's
seconds are measured in its worker, with every core busy), non-finite or invalid JSON, half-written files (a sweep writes
--output in every case: finite rows on exit 0, nothing on exit 2, never a temporary file left)
and warnings printed to stderr (a numpy RuntimeWarning a user would see).

Usage: python tools/fuzz_campaign.py [--examples N] [--log FILE] [--summarize-only]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = {
    "test_estimate_options": "estimate options",
    "test_route_and_compare_options": "route + compare options",
    "test_train_options": "train options",
    "test_sweep_options": "sweep plans and options (+ --output)",
    "test_mutated_yaml_specs": "mutated YAML specs",
    "test_mutated_configs": "mutated HF configs",
    "test_load_profiles": "load profiles",
    "test_mutated_hardware_files": "mutated hardware files",
}


def summarize(log: Path) -> int:
    rows = collections.defaultdict(lambda: collections.Counter())
    peak = collections.defaultdict(float)
    slowest = collections.defaultdict(float)
    failures = []
    for line in log.read_text().splitlines():
        case = json.loads(line)
        kind = KINDS.get(case["test"], case["test"])
        c = rows[kind]
        c["runs"] += 1
        c["exit 0"] += case["code"] == 0
        c["exit 2"] += case["code"] == 2
        c["over 5 s"] += case["seconds"] > 5
        c["over 1 GiB"] += case["rss_mib"] > 1024
        peak[kind] = max(peak[kind], case["rss_mib"])
        slowest[kind] = max(slowest[kind], case["seconds"])
        for p in case["problems"]:
            c[p] += 1
        if case["problems"]:
            failures.append(case)
    cols = ["runs", "exit 0", "exit 2", "traceback", "not one line", "over 5 s", "over 1 GiB",
            "non-finite or invalid JSON", "half-written file", "warning on stderr"]
    print("| input kind | " + " | ".join(cols) + " | slowest s | peak RSS MiB |")
    print("|---" * (len(cols) + 3) + "|")
    total = collections.Counter()
    for kind in [k for k in KINDS.values() if k in rows] + [k for k in rows if k not in KINDS.values()]:
        c = rows[kind]
        total.update(c)
        print(f"| {kind} | " + " | ".join(f"{c[k]:,}" for k in cols) +
              f" | {slowest[kind]:.2f} | {peak[kind]:.0f} |")
    print("| **all** | " + " | ".join(f"{total[k]:,}" for k in cols) +
          f" | {max(slowest.values(), default=0):.2f} | {max(peak.values(), default=0):.0f} |")
    for case in failures[:20]:
        print("FAILED", case["problems"], case["args"])
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2300)
    ap.add_argument("--log", default="fuzz-campaign.jsonl")
    ap.add_argument("--summarize-only", action="store_true")
    args = ap.parse_args()
    log = Path(args.log).resolve()
    if not args.summarize_only:
        log.unlink(missing_ok=True)
        env = {**os.environ, "MOECALC_FUZZ_EXAMPLES": str(args.examples), "MOECALC_FUZZ_LOG": str(log),
               "MOECALC_CACHE_DIR": "off"}
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_fuzz.py", "-k", " or ".join(KINDS)], cwd=ROOT, env=env)
        print(f"pytest exit {proc.returncode} after {time.time() - t0:.0f} s")
    return summarize(log)


if __name__ == "__main__":
    sys.exit(main())
