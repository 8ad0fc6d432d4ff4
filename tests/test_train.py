"""Training cost (moecalc train): FLOPs per token against published counts, GPU-hours against
published runs at the default MFU, memory per GPU of the published layouts, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moecalc.cli import app

LLAMA_405B = str(Path(__file__).parent / "data" / "configs" / "more" / "llama-3.1-405b.json")
runner = CliRunner()


def train(*args: str) -> dict:
    result = runner.invoke(app, ["train", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


DSV3 = ["deepseek-v3", "--tokens", "14.8T", "--gpu", "h800", "--gpus", "2048", "--pp", "16", "--ep", "64",
        "--precision", "fp8", "--global-batch", "62914560"]


def test_deepseek_v3_flops_per_token():
    """At 4,096-token sequences: 3 x [2 x (37.55B active - 0.93B embedding) + MLA attention (naive
    form, 2 x 128 x 320 x mean keys 2,048.5 x 61 layers)] = 250.5 GFLOP, the ISCA 2025 Table 2
    figure (250, without the MTP module); with the MTP module's forward (its layer with 8 routed and
    1 shared expert, its 2h x h projection and its own output head) 260.66, NeMo's measured
    Megatron count 260.6 within 2%."""
    t = train(*DSV3)["train"]
    assert t["flops_per_token_main"] == pytest.approx(250e9, rel=0.01)
    assert t["flops_per_token"] == pytest.approx(260.6e9, rel=0.02)
    assert t["router_flops_per_token"] == pytest.approx(3 * 2 * 7168 * 256 * 58)


def test_deepseek_v3_gpu_hours_days_and_memory():
    """2,048 H800s, PP16 x EP64: GPU-hours within 20% of the published 2,664K, under two months, and
    the layout fits 80 GB; at $2 per GPU-hour near the published $5.328M of pre-training."""
    r = train(*DSV3, "--price-per-hour", "2")
    t = r["train"]
    assert t["gpu_hours"] == pytest.approx(2_664_000, rel=0.2) and t["days"] < 61
    assert t["usd"] == pytest.approx(5.328e6, rel=0.2)
    assert r["memory"]["fits"]


def test_llama_405b_flops_hours_and_memory():
    """Llama 3.1 405B on 15.6T tokens at 8K: 6ND = 3.79e25 plus attention (about 3.6%) within 5% of the
    published 3.8e25; 16,384 H100s TP8 x PP16 at the default 40% MFU within 20% of 30.84M GPU-hours
    (the published figure includes interruptions: over 90% effective time); it fits."""
    r = train(LLAMA_405B, "--tokens", "15.6T", "--gpu", "h100", "--gpus", "16384", "--tp", "8", "--pp", "16",
              "--seq-len", "8192", "--global-batch", "16M")
    t = r["train"]
    assert t["flops"] == pytest.approx(3.8e25, rel=0.05)
    assert t["gpu_hours"] == pytest.approx(30.84e6, rel=0.2)
    assert r["memory"]["fits"]


def test_memory_by_hand():
    """Megatron's rule on a dense model: 6 bytes of bf16 weights and fp32 gradients per parameter,
    12 of optimizer states over DP (distributed optimizer); full recomputation keeps 2h bytes per
    token and layer. Llama 3.1 8B (8.03B parameters, 32 layers, hidden 4096) on 8 GPUs DP8 with
    micro-batches of one 4,096-token sequence: 6 x 8.03e9 + 12 x 8.03e9 / 8 + 32 x 4096 x 2 x 4096."""
    r = train("llama-3.1-8b", "--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--recompute", "full")
    mem = r["memory"]["per_gpu"]
    params = 8_030_261_248
    assert mem["weights_and_grads_bytes"] == pytest.approx(6 * params)
    assert mem["optimizer_bytes"] == pytest.approx(12 * params / 8)
    assert mem["activations_bytes"] == pytest.approx(32 * 4096 * 2 * 4096)


@pytest.mark.parametrize("args, needle", [
    (["--gpu", "h100", "--gpus", "8"], "--tokens"),
    (["--tokens", "lots", "--gpu", "h100", "--gpus", "8"], "token count"),
    (["--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--tp", "3"], "do not split"),
    (["--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--precision", "fp4"], "bf16 or fp8"),
    (["--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--train-mfu", "2"], "(0, 1]"),
    (["--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--recompute", "some"], "selective"),
    (["--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--scale-out", "roce-400g"], "does not apply"),
], ids=["no-tokens", "tokens", "tp", "precision", "mfu", "recompute", "scale-out"])
def test_bad_train_options(args, needle):
    result = runner.invoke(app, ["train", "qwen3-30b-a3b", *args])
    assert result.exit_code == 2 and needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("flag, value", [("--batch", "8"), ("--routing", "zipf:1.2"), ("--kv-dtype", "fp8"),
                                         ("--recompute", "none")])
def test_compare_train_rejects_what_it_would_ignore(flag, value):
    """compare is offered every serving option; with --train a serving one would be silently
    ignored, so it is an error (and 'none' recomputation, which selective already is)."""
    result = runner.invoke(app, ["compare", "qwen3-30b-a3b", "--train", "--tokens", "1T", flag, value])
    assert result.exit_code == 2 and flag in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_default_expert_parallel_divides_the_experts():
    """With DP 6 and 128 experts the default EP is gcd(128, 6) = 2, not min(128, 6) = 6."""
    result = runner.invoke(app, ["train", "qwen3-30b-a3b", "--tokens", "1T", "--gpu", "h100", "--gpus", "6",
                                 "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deployment"]["ep"] == 2
