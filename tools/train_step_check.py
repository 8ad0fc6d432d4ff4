"""The training step bound (``moecalc.train``'s ``step_bound``) against the published runs with a
stated layout in ../shared/reference/training/facts.json: its MFU ceiling (GEMMs at peak,
transfers hidden, the 1F1B bubble left) must not fall below a published MFU, and the GEMM
efficiency each run implies once its exposed transfers are charged shows why one fitted
constant does not turn the bound into a prediction yet (printed; ``--check`` exits 1 if a
ceiling falls below its run).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT.parent / "shared" / "reference" / "training" / "facts.json"
BF16_H100 = 989.4e12            # H100/H800 SXM dense BF16 (hardware.yaml)

# (fact id, spec, GPU, GPUs, TP, PP, EP, sequence, global batch in sequences, precision, overlap, VP)
RUNS = (
    ("l3_405b_mfu", str(ROOT / "tests/data/configs/more/llama-3.1-405b.json"), "h100", 16384, 8, 16, 1, 8192,
     2048, "bf16", 0.0, 1),
    ("nemo_dsv3_h100", "deepseek-v3", "h100", 1024, 2, 8, 64, 4096, 8192, "bf16", 0.0, 4),
    ("dsv3_pretrain_gpu_hours", "deepseek-v3", "h800", 2048, 1, 16, 64, 4096, 15360, "fp8", 1.0, 1),
)


def published_mfu(fact_id: str, flops_per_token: float) -> float:
    """Llama 3 405B: the middle of 38-43%; NeMo: 338 model TFLOP/s over the BF16 peak;
    DeepSeek-V3: 14.8T tokens x its FLOPs a token in 2,664K H800-hours over the BF16 peak."""
    facts = {f["id"]: f for f in json.loads(FACTS.read_text())["facts"]}
    if fact_id == "l3_405b_mfu":
        return 0.405
    if fact_id == "nemo_dsv3_h100":
        return 338 / (BF16_H100 / 1e12)
    return 14.8e12 * flops_per_token / (facts[fact_id]["value"] * 3600 * BF16_H100)


def evaluate(run) -> dict:
    from moecalc.hardware import load_catalog
    from moecalc.spec.load import load
    from moecalc.train import TrainRequest, train

    fact, spec_name, gpu, gpus, tp, pp, ep, seq, gbs, precision, overlap, vp = run
    spec, label = load(spec_name)
    req = TrainRequest(tokens=1e12, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, seq_len=seq, precision=precision,
                       global_batch=gbs * seq, overlap=overlap, vp=vp)
    out = train(spec, req, load_catalog(), label)["train"]
    bound = out["step_bound"]
    sec = bound["seconds"]
    published = published_mfu(fact, out["flops_per_token"])
    # the step the published MFU implies, less the bound's transfers: what the GEMMs took
    step = out["flops_per_token"] * bound["tokens_per_step"] / (gpus * BF16_H100 * published)
    bubble = sec["pipeline_bubble"] / (sec["compute"] + sec["expert_alltoall"] + sec["tp_allreduce"])
    gemm = step / (1 + bubble) - sec["expert_alltoall"] - sec["tp_allreduce"] - sec["data_parallel"] / (1 + bubble)
    return {"fact": fact, "published_mfu": published, "mfu_ceiling": bound["mfu_ceiling"], "bound_mfu": bound["mfu_comm_exposed"],
            "implied_gemm_efficiency": sec["compute"] / gemm if gemm > 0 else float("inf"),
            "comm_to_compute": bound["comm_to_compute"]}


def main() -> int:
    bad = 0
    rows = [evaluate(run) for run in RUNS]
    for r in rows:
        bad += r["mfu_ceiling"] < r["published_mfu"]
        print(f"{r['fact']:26s} published MFU {r['published_mfu']:.3f}  ceiling {r['mfu_ceiling']:.3f}  "
              f"comm exposed {r['bound_mfu']:.3f}  implied GEMM efficiency {r['implied_gemm_efficiency']:.2f}")
    # the default MFU is one constant over these runs: each run's GPU-hours predicted by the
    # median MFU of the others (GPU-hours scale as 1 / MFU)
    mfus = [r["published_mfu"] for r in rows]
    print(f"\nMFU over the three runs: median {statistics.median(mfus):.3f} (the default --mfu is 0.40)")
    print("leave one run out: GPU-hours at the others' median MFU / published")
    for i, r in enumerate(rows):
        others = statistics.median(mfus[:i] + mfus[i + 1:])
        print(f"  {r['fact']:26s} MFU {others:.3f}  GPU-hours {r['published_mfu'] / others:.2f}x")
    return 1 if bad and "--check" in sys.argv else 0


if __name__ == "__main__":
    sys.exit(main())
