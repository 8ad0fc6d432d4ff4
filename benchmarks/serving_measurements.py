"""Every published serving measurement of the project reference, as one moecalc command each:
the command, the measured value, moecalc's prediction and their ratio (predicted speed over
measured speed, so above 1 is optimistic: for a time, measured over predicted), then the median
and the spread. Figures, not a test: calibration is its own step.

Usage: python benchmarks/serving_measurements.py [--reference ../shared/reference] [--json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METRICS = {                       # metric -> (JSON path, a time: smaller is faster)
    "output_tokens_per_s_per_gpu": (("perf", "tokens_per_s_per_gpu"), False),
    "input_tokens_per_s_per_gpu": (("perf", "input_tokens_per_s_per_gpu"), False),
    "tokens_per_s_per_user": (("perf", "tokens_per_s_per_user"), False),
    "tpot_seconds": (("perf", "tpot_seconds"), True),
    "ttft_seconds": (("perf", "ttft_seconds"), True),
}
NVFP4_RECIPE = "routed_experts=nvfp4,shared_experts=nvfp4,dense_ffn=nvfp4,attention=bf16"


def weights_dtype(text: str) -> str | None:
    """The measured checkpoint's storage as a --weights-dtype (None: the spec's own)."""
    if text.startswith("fp8 (per-tensor)"):
        return "fp8-tensor"
    if text.startswith("fp8"):
        return "fp8"
    if text.startswith("nvfp4 MoE and dense FFN; attention bf16"):
        return NVFP4_RECIPE
    if text.startswith("mxfp4 experts"):
        return None                  # gpt-oss ships MXFP4 experts: the spec's dtype
    raise SystemExit(f"no --weights-dtype for {text!r}")


def command(case: dict, reference: Path) -> list[str]:
    model = case["model"]
    if "/" in model or model.endswith(".json"):
        model = str((reference / model).resolve())
    hw, lay, w = case["hardware"], case["layout"], case["workload"]
    args = ["estimate", model, "--gpu", hw["gpu"], "--gpus", str(hw["gpus"]), "--gpus-per-node",
            str(hw["gpus_per_node"]), "--tp", str(lay["tp"]), "--ep", str(lay["ep"]), "--dp", str(lay["dp"]),
            "--pp", str(lay["pp"])]
    if lay.get("redundant_experts"):
        args += ["--redundant-experts", str(lay["redundant_experts"])]
    wd = weights_dtype(case["precision"]["weights"])
    if wd:
        args += ["--weights-dtype", wd]
    args += ["--kv-dtype", case["precision"]["kv_cache"].split()[0]]
    mode = w["mode"]
    batch = w.get("batch", w.get("concurrency", w.get("prompts_per_forward")))
    args += ["--batch", str(batch), "--isl", str(w["isl"])]
    if "osl" in w:
        args += ["--osl", str(w["osl"])]
    args += ["--mode", "continuous" if mode == "single" else mode]
    spec = case.get("speculative_decoding")
    if spec:
        if spec["method"] != "mtp":
            raise SystemExit(f"{case['id']}: no moecalc option for {spec['method']}")
        args += ["--mtp", str(spec["draft_tokens"])]
    # A measured run held its batch, so fit is judged at the whole capacity: the 0.9 headroom is
    # vLLM's policy, not every framework's (TensorRT-LLM 0.9's session benchmark sizes the KV
    # cache for exactly batch x (isl + osl)), and a speed is not withheld from a run that happened.
    return args + ["--assume", "gpu_memory_utilization=1", "--format", "json"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference"))
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args()
    reference = Path(args.reference)
    cases = json.loads((reference / "serving" / "measurements.json").read_text())["cases"]

    from typer.testing import CliRunner

    from moecalc.cli import app

    runner = CliRunner()
    rows = []
    for case in cases:
        argv = command(case, reference)
        result = runner.invoke(app, argv)
        if result.exit_code != 0:
            raise SystemExit(f"{case['id']}: moecalc {shlex.join(argv)} failed: {result.stderr.strip()}")
        out = json.loads(result.stdout)
        (section, key), is_time = METRICS[case["metric"]]
        predicted = out[section][key]
        measured = case["value"]
        if predicted is None:
            ratio = None
        else:
            ratio = measured / predicted if is_time else predicted / measured
        rows.append({"id": case["id"], "metric": case["metric"], "measured": measured, "predicted": predicted,
                     "ratio": ratio, "fits": out["memory"]["fits"],
                     "command": "moecalc " + shlex.join(a.replace(str(reference.resolve()), "REF") for a in argv)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    print(f"{'case':<{width}}  {'metric':<28} {'measured':>10} {'predicted':>10} {'ratio':>6}")
    for r in rows:
        pred = "n/a" if r["predicted"] is None else f"{r['predicted']:.4g}"
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['id']:<{width}}  {r['metric']:<28} {r['measured']:>10.4g} {pred:>10} {ratio:>6}")
    ratios = sorted(r["ratio"] for r in rows if r["ratio"] is not None)
    print(f"\n{len(rows)} cases, {len(ratios)} predicted; ratio (predicted speed / measured; above 1: optimistic): "
          f"median {statistics.median(ratios):.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")
    for r in rows:
        print(f"  {r['id']}: {r['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
