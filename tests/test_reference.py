"""Published numbers (tests/data/public_checks.json, a copy of the shared reference set) and an
independent count by Hugging Face transformers (tests/data/transformers_param_counts.json,
produced by tools/xcheck_transformers.py on the meta device)."""

from __future__ import annotations

import json

import pytest

from moecalc.estimate import Workload, estimate
from moecalc.spec.load import load
from moecalc.parsing import parse_count

from conftest import CONFIGS, DATA

CHECKS = json.loads((DATA / "public_checks.json").read_text())["checks"]


def _run(config: str, args: list[str]) -> dict:
    opts = dict(zip(args[::2], args[1::2]))
    workload = Workload(context=parse_count(opts.get("--context", "4096"), "--context"),
                        batch=parse_count(opts.get("--batch", "1"), "--batch"))
    spec, label = load(str(DATA / config))
    return estimate(spec, workload, label=label)


def _dig(obj, key):
    for part in key.split("."):
        obj = obj[part]
    return obj


@pytest.mark.parametrize("check", CHECKS, ids=[c["id"] for c in CHECKS])
def test_public_check(check):
    out = _run(check["config"], check.get("args", []))
    value = _dig(out, check["key"])
    candidates = [value]
    if check["key"] == "params.active":   # three vendor conventions
        p = out["params"]
        candidates += [value - p["embedding"], value - p["embedding"] - p["lm_head"]]
    got = [v * check.get("scale", 1) for v in candidates]
    if "min" in check:
        assert check["min"] <= got[0] <= check["max"]
        return
    want = check["value"]
    best = min(got, key=lambda v: abs(v - want))
    if check["tol"] == 0:
        assert best == want
    else:
        assert abs(best - want) / want <= check["tol"]


def test_bf16_checkpoint_bytes_equal_twice_the_total():
    """DESIGN: for a bf16 checkpoint, weights.bytes == 2 * params.total, to the byte."""
    for name, size in (("mixtral-8x7b", 93_405_585_408), ("llama-3.1-8b", 16_060_522_496),
                       ("qwen3-30b-a3b", 61_064_245_248), ("deepseek-v2-lite", 31_412_968_448)):
        out = _run(f"configs/{name}.json", [])
        assert out["weights"]["bytes"] == size == 2 * out["params"]["total"]


def _xcheck_cases():
    """(config path, transformers count) for real configs and for tiny synthetic ones that cover
    the families and options no real config here exercises (dbrx, olmoe, phimoe, glm4_moe,
    qwen2_moe shared experts and mlp_only_layers, moe_layer_freq, tied embeddings, biases)."""
    cases = []
    for counts, folder in (("transformers_param_counts.json", CONFIGS),
                           ("transformers_param_counts_synthetic.json", DATA / "configs_synthetic")):
        for stem, ref in json.loads((DATA / counts).read_text())["models"].items():
            assert not ref.get("error"), (stem, ref["error"])
            cases.append(pytest.param(folder / f"{stem}.json", ref, id=stem))
    return cases


@pytest.mark.parametrize("config, ref", _xcheck_cases())
def test_matches_transformers_count(config, ref):
    """Our count equals transformers' numel per component (DeepSeek-V3/GLM score-correction biases
    are persistent buffers there, not parameters, and are added back)."""
    spec, _ = load(str(config))
    got = estimate(spec)["params"]
    buffers = ref.get("persistent_buffers", {})
    want = dict(ref["by_component"])
    for comp, n in buffers.items():
        want[comp] = want.get(comp, 0) + n
    assert got["total"] == sum(want.values())
    for comp, n in want.items():
        assert got["by_component"].get(comp, 0) == n, comp
