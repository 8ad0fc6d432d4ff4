"""Every published serving measurement (tests/data/serving/measurements.json) as one moecalc
command each, run through the CLI: the measured value, the calibrated prediction and the bound's,
their ratios (predicted speed over measured speed, above 1 optimistic; for a time, measured over
predicted), the ratio with the case's source left out of the fit (from moecalc/data/
calibration.json, which tools/calibrate.py wrote), and the summary per group.

Usage: python benchmarks/serving_measurements.py [--measurements FILE] [--json] [--commands]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from measurements import DEFAULT, Case, load  # noqa: E402


def predicted(runner, app, case: Case, profile: str) -> float | None:
    argv = case.argv() + ["--assume", f"profile={profile}", "--format", "json"]
    result = runner.invoke(app, argv)
    if result.exit_code != 0:
        raise SystemExit(f"{case.id}: moecalc {shlex.join(argv)} failed: {result.stderr.strip()}")
    perf = json.loads(result.stdout)["perf"]
    key = {"tpot": "tpot_seconds", "ttft": "ttft_seconds"}.get(case.attribute, case.attribute)
    return perf[key]


def within(rows, key):
    rs = [r[key] for r in rows if r[key] is not None]
    return (statistics.median(rs), sum(0.75 <= r <= 1.33 for r in rs) / len(rs), len(rs)) if rs else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", default=str(DEFAULT))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--commands", action="store_true", help="also print each case's moecalc command")
    args = parser.parse_args()
    cases = load(Path(args.measurements))
    held_out = {r["id"]: r["ratio_held_out"] for r in
                json.loads((ROOT / "moecalc" / "data" / "calibration.json").read_text()).get("cases", [])}

    from typer.testing import CliRunner

    from moecalc.cli import app

    runner = CliRunner()
    rows = []
    for case in cases:
        cal, bound = predicted(runner, app, case, "calibrated"), predicted(runner, app, case, "bound")
        rows.append({"id": case.id, "source": case.source, "group": case.group, "vendor": case.vendor,
                     "dense": case.dense, "metric": case.metric, "measured": case.value, "predicted": cal,
                     "bound": bound, "ratio": None if cal is None else case.ratio(cal),
                     "ratio_bound": None if bound is None else case.ratio(bound),
                     "ratio_held_out": held_out.get(case.id),
                     "command": "moecalc " + shlex.join(a.replace(str(ROOT) + "/", "") for a in case.argv())})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    print(f"{'case':<45} {'metric':<12} {'measured':>9} {'predicted':>9} {'ratio':>5} {'held-out':>8} {'bound':>5}")
    for r in rows:
        metric = r["metric"].replace("_seconds", "").replace("output_tokens_per_s_per_gpu", "out/s/GPU").replace(
            "input_tokens_per_s_per_gpu", "in/s/GPU").replace("tokens_per_s_per_user", "tok/s/user")
        print(f"{r['id']:<45} {metric:<12} {r['measured']:>9.4g} {r['predicted']:>9.4g} {fmt(r['ratio']):>5} "
              f"{fmt(r['ratio_held_out']):>8} {fmt(r['ratio_bound']):>5}")
    print("\nratio = predicted speed / measured (above 1: optimistic); median, share within [0.75, 1.33], cases")
    groups = [("all", rows)]
    for field in ("group", "vendor", "source"):
        groups += [(f"{v}", [r for r in rows if r[field] == v]) for v in dict.fromkeys(r[field] for r in rows)]
    groups += [("dense controls", [r for r in rows if r["dense"]]), ("MoE", [r for r in rows if not r["dense"]])]
    print(f"{'':<24} {'calibrated':>17} {'held-out':>17} {'bound':>17}")
    for name, rs in groups:
        cells = []
        for key in ("ratio", "ratio_held_out", "ratio_bound"):
            w = within(rs, key)
            cells.append("n/a" if w is None else f"{w[0]:.2f} {w[1]:>4.0%} n={w[2]:<2}")
        print(f"{name:<24} {cells[0]:>17} {cells[1]:>17} {cells[2]:>17}")
    if args.commands:
        print()
        for r in rows:
            print(f"  {r['id']}: {r['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
