"""The published serving measurements (tests/data/serving/measurements.json) as moecalc
workloads: each case's model, deployment and request workload, both as a command line
(``benchmarks/serving_measurements.py`` runs them through the CLI) and as library records
(``tools/calibrate.py`` evaluates many candidate constants at once through the same engine).

One mapping from a case to moecalc's terms lives here; read each case's note in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "tests" / "data" / "serving" / "measurements.json"

METRICS = {                       # metric -> (RequestServed attribute and JSON key under perf, a time)
    "output_tokens_per_s_per_gpu": ("tokens_per_s_per_gpu", False),
    "input_tokens_per_s_per_gpu": ("input_tokens_per_s_per_gpu", False),
    "tokens_per_s_per_user": ("tokens_per_s_per_user", False),
    "tpot_seconds": ("tpot", True),
    "ttft_seconds": ("ttft", True),
}
JSON_KEY = {"tpot": "tpot_seconds", "ttft": "ttft_seconds"}
NVFP4_RECIPE = "routed_experts=nvfp4,shared_experts=nvfp4,dense_ffn=nvfp4,attention=bf16"
DENSE_CONTROLS = ("llama-2-7b.json", "llama-2-70b.json")   # the dense models among the cases
SOURCE_NAMES = (                  # a short name per source, for tables and leave-one-source-out
    ("TensorRT-LLM docs/source/performance.md at v0.9.0", "trtllm-0.9-tables"),
    ("How to get best performance on DeepSeek-R1", "trtllm-dsr1-best-perf"),
    ("Pushing Latency Boundaries", "trtllm-dsr1-latency"),
    ("LMSYS/SGLang", "sglang-large-ep"),
    ("Best GPU for DeepSeek-R1", "inferencex-dsr1"),
    ("Best GPU for gpt-oss-120b", "inferencex-gptoss"),
)


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


@dataclass(frozen=True)
class Case:
    id: str
    source: str                      # short name (SOURCE_NAMES)
    group: str                       # static, continuous, decode pool, prefill pool, single stream
    vendor: str                      # NVIDIA or AMD
    dense: bool                      # a dense control
    metric: str
    value: float
    model: str                       # a bundled name or a config path
    gpu: str
    gpus: int
    gpus_per_node: int
    tp: int
    ep: int
    dp: int
    pp: int
    redundant_experts: int
    weights_dtype: str | None
    kv_dtype: str
    batch: int
    isl: int
    osl: int | None
    mode: str
    mtp: int
    two_batch_overlap: bool          # the deployment runs two-batch overlap (its note says so)

    @property
    def attribute(self) -> str:
        return METRICS[self.metric][0]

    @property
    def is_time(self) -> bool:
        return METRICS[self.metric][1]

    def ratio(self, predicted):
        """Predicted speed over measured (above 1: optimistic); for a time, measured over predicted."""
        return self.value / predicted if self.is_time else predicted / self.value

    def argv(self) -> list[str]:
        """The moecalc command (after ``moecalc``). A measured run held its batch, so fit is judged
        at the whole capacity: the 0.9 headroom is vLLM's policy, not every framework's
        (TensorRT-LLM 0.9's session benchmark sizes the KV cache for exactly batch x (isl +
        osl)), and a speed is not withheld from a run that happened."""
        args = ["estimate", self.model, "--gpu", self.gpu, "--gpus", str(self.gpus), "--gpus-per-node",
                str(self.gpus_per_node), "--tp", str(self.tp), "--ep", str(self.ep), "--dp", str(self.dp), "--pp",
                str(self.pp)]
        if self.redundant_experts:
            args += ["--redundant-experts", str(self.redundant_experts)]
        if self.weights_dtype:
            args += ["--weights-dtype", self.weights_dtype]
        args += ["--kv-dtype", self.kv_dtype, "--batch", str(self.batch), "--isl", str(self.isl)]
        if self.osl is not None:
            args += ["--osl", str(self.osl)]
        args += ["--mode", self.mode]
        if self.mtp:
            args += ["--mtp", str(self.mtp)]
        args += ["--assume", "gpu_memory_utilization=1"]
        return args + (["--assume", "comm_overlap=tbo"] if self.two_batch_overlap else [])


def _source(text: str) -> str:
    for needle, name in SOURCE_NAMES:
        if needle in text:
            return name
    raise SystemExit(f"no short name for the source {text[:60]!r}")


def _group(mode: str, batch: int) -> str:
    return {"static": "static", "decode": "decode pool", "prefill": "prefill pool"}.get(
        mode, "single stream" if batch == 1 else "continuous")


def load(path: Path = DEFAULT) -> list[Case]:
    cases = []
    for c in json.loads(Path(path).read_text())["cases"]:
        model = c["model"]
        if model.endswith(".json"):
            model = str((Path(path).parent / Path(model).name).resolve())
        hw, lay, w = c["hardware"], c["layout"], c["workload"]
        batch = w.get("batch", w.get("concurrency", w.get("prompts_per_forward")))
        spec = c.get("speculative_decoding")
        if spec and spec["method"] != "mtp":
            raise SystemExit(f"{c['id']}: no moecalc option for {spec['method']}")
        cases.append(Case(
            id=c["id"], source=_source(c["source"]), group=_group(w["mode"], batch),
            vendor="AMD" if hw["gpu"].startswith("mi") else "NVIDIA", dense=Path(c["model"]).name in DENSE_CONTROLS,
            metric=c["metric"], value=float(c["value"]), model=model, gpu=hw["gpu"], gpus=hw["gpus"],
            gpus_per_node=hw["gpus_per_node"], tp=lay["tp"], ep=lay["ep"], dp=lay["dp"], pp=lay["pp"],
            redundant_experts=lay.get("redundant_experts") or 0, weights_dtype=weights_dtype(c["precision"]["weights"]),
            kv_dtype=c["precision"]["kv_cache"].split()[0], batch=batch, isl=w["isl"], osl=w.get("osl"),
            mode="continuous" if w["mode"] == "single" else w["mode"], mtp=spec["draft_tokens"] if spec else 0,
            two_batch_overlap="two-batch overlap" in c["note"]))
    return cases
