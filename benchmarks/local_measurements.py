"""Every published local measurement (tests/data/local/measurements.json) as one moecalc command:
measured and predicted decode and prefill tokens/s and their ratio (predicted / measured, above 1
optimistic), then the median. The cases' fields are free text, so the mapping from a case to
moecalc's options is written here, one line each, with what it assumes.

Usage: python benchmarks/local_measurements.py [--json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# case id -> (moecalc arguments, decode metric, prefill metric, what the mapping assumes)
CASES = {
    "ktransformers-v02-dsv3-q4km-1s-6454s-4090d": (
        "deepseek-v3 --weights-dtype q4_k_m --gpu rtx4090d --host xeon-6454s-1s --offload experts --isl 500 --osl 300",
        "decode_tok_s", "prefill_tok_s", "ktransformers: every routed expert on the CPU (its -serve rule)"),
    "ktransformers-v02-dsv3-q4km-2s-6454s-4090d": (
        "deepseek-v3 --weights-dtype q4_k_m --gpu rtx4090d --host xeon-6454s-2s --offload experts --isl 500 --osl 300",
        "decode_tok_s", "prefill_tok_s", "as above, both sockets' bandwidth (weights copied to both NUMA nodes)"),
    "llamacpp-baseline-in-ktdoc-dsv3-q4km-2s-6454s-4090d": (
        "deepseek-v3 --weights-dtype q4_k_m --gpu rtx4090d --host xeon-6454s-2s --offload experts --isl 500 --osl 300",
        "decode_tok_s", "prefill_tok_s", "its flags are not given: modelled as ktransformers' placement"),
    "llamacpp-pr4406-mixtral8x7b-m2max-q4_0": (
        "mixtral-8x7b --weights-dtype q4_0 --gpu apple-m2-max --offload none --isl 512 --osl 128",
        "tg128_tok_s", "pp512_tok_s", "all on the M2 Max's GPU (Metal)"),
    "xd-llama3-8b-q4km-rtx4090-llamacpp": (
        "llama-3.1-8b --weights-dtype q4_k_m --gpu rtx4090 --offload none --isl 512 --osl 512",
        "tg512_tok_s", "pp512_tok_s", "Llama 3.1 8B's config (Llama 3 8B's architecture)"),
    "xd-llama3-70b-q4km-2x4090-llamacpp": (
        "llama-3.1-70b --weights-dtype q4_k_m --gpu rtx4090 --gpus 2 --offload none --isl 512 --osl 512",
        "tg512_tok_s", "pp512_tok_s", "Llama 3.1 70B's config; llama.cpp's layer split runs the GPUs in turn"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cases = {c["id"]: c for c in json.loads((DATA / "local" / "measurements.json").read_text())["cases"]}
    missing = set(cases) - set(CASES)
    if missing:
        raise SystemExit(f"no moecalc command for {sorted(missing)}")

    from typer.testing import CliRunner

    from moecalc.cli import app

    runner = CliRunner()
    rows = []
    for case_id, (command, decode_key, prefill_key, assumes) in CASES.items():
        argv = ["estimate", *shlex.split(command), "--format", "json"]
        result = runner.invoke(app, argv)
        if result.exit_code != 0:
            raise SystemExit(f"{case_id}: moecalc {shlex.join(argv)} failed: {result.stderr.strip()}")
        perf = json.loads(result.stdout)["perf"]
        metrics = cases[case_id]["metrics"]
        for what, key, predicted in (("decode", decode_key, perf["tokens_per_s_per_user"]),
                                     ("prefill", prefill_key, perf["prefill_tokens_per_s"])):
            measured = metrics[key]
            rows.append({"id": case_id, "metric": what, "measured": measured, "predicted": predicted,
                         "ratio": predicted / measured, "command": "moecalc estimate " + command,
                         "assumes": assumes})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    print(f"{'case':<{width}}  {'metric':<8} {'measured':>9} {'predicted':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['id']:<{width}}  {r['metric']:<8} {r['measured']:>9.4g} {r['predicted']:>9.4g} {r['ratio']:>6.2f}")
    for what in ("decode", "prefill"):
        ratios = [r["ratio"] for r in rows if r["metric"] == what]
        print(f"{what}: median predicted/measured {statistics.median(ratios):.2f}, "
              f"range {min(ratios):.2f}-{max(ratios):.2f}")
    print(f"all: median {statistics.median(r['ratio'] for r in rows):.2f}")
    print()
    for case_id, (command, _, _, assumes) in CASES.items():
        print(f"  {case_id}: moecalc estimate {command}  ({assumes})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
