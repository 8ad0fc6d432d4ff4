#!/usr/bin/env python3
"""Regenerate model_specs/*.yaml from the real configs in tests/data/configs with `moecalc import`,
adding each model's source line and published totals (``stated``, checked on every load).

Run from the repository root with the project installed: python tools/build_model_specs.py
Provenance of every config: tests/data/configs/SOURCES.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from moecalc.convert import import_config, write_atomically
from moecalc.spec.yaml_io import dump_yaml

HF = "https://huggingface.co/{}/blob/main/config.json"

# stem: (display name, Hugging Face repo, stated totals as published)
MODELS = {
    "deepseek-v3": ("DeepSeek-V3", "deepseek-ai/DeepSeek-V3", dict(
        total_params=671e9, active_params=37e9, tolerance=0.014,
        source="DeepSeek-V3 technical report (arXiv:2412.19437): 671B total, 37B activated "
               "(rounded to the billion: +-1.4%)")),
    "deepseek-v2": ("DeepSeek-V2", "deepseek-ai/DeepSeek-V2", dict(
        total_params=236e9, active_params=21e9,
        source="DeepSeek-V2 report (arXiv:2405.04434), abstract: 236B total, 21B activated")),
    "deepseek-v2-lite": ("DeepSeek-V2-Lite", "deepseek-ai/DeepSeek-V2-Lite", dict(
        total_params=15.706484224e9,
        source="safetensors index total_size 31,412,968,448 bytes (bf16) / 2")),
    "kimi-k2": ("Kimi-K2-Instruct", "moonshotai/Kimi-K2-Instruct", dict(
        active_params=32e9, tolerance=0.016,
        source="Kimi K2 model card: 1T total (too rounded to check), 32B activated (rounded: +-1.6%)")),
    "mixtral-8x7b": ("Mixtral-8x7B", "mistralai/Mixtral-8x7B-v0.1", dict(
        total_params=46.702792704e9, active_params=12.9e9,
        source="safetensors total_size 93,405,585,408 bytes / 2; Mistral AI: 12.9B active")),
    "mixtral-8x22b": ("Mixtral-8x22B", "mistralai/Mixtral-8x22B-v0.1", dict(
        total_params=141e9, active_params=39e9,
        source="Mistral AI, 'Cheaper, Better, Faster, Stronger' (2024-04-17): 141B total, 39B active")),
    "qwen3-30b-a3b": ("Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B", dict(
        total_params=30.532122624e9, active_params=3.3e9, tolerance=0.02,
        source="safetensors total_size 61,064,245,248 bytes / 2; Qwen3 model card: 3.3B activated "
               "(3.35B derived: the card appears to truncate, not round)")),
    "qwen3-235b-a22b": ("Qwen3-235B-A22B", "Qwen/Qwen3-235B-A22B", dict(
        total_params=235e9, active_params=22e9,
        source="Qwen3-235B-A22B model card: 235B total, 22B activated, 234B non-embedding")),
    "gpt-oss-20b": ("gpt-oss-20b", "openai/gpt-oss-20b", dict(
        total_params=20.91e9, active_params=3.61e9,
        source="gpt-oss model card (arXiv:2508.10925), table 1: 20.91B total, 3.61B active")),
    "gpt-oss-120b": ("gpt-oss-120b", "openai/gpt-oss-120b", dict(
        total_params=116.83e9, active_params=5.13e9,
        source="gpt-oss model card (arXiv:2508.10925), table 1: 116.83B total, 5.13B active")),
    "llama-4-scout": ("Llama-4-Scout-17B-16E", "meta-llama/Llama-4-Scout-17B-16E-Instruct", dict(
        active_params=17e9, tolerance=0.03,
        source="Llama 4 model card: 17B active (rounded: +-3%); its 109B total includes the vision "
               "encoder, which moecalc does not count")),
    "llama-4-maverick": ("Llama-4-Maverick-17B-128E", "meta-llama/Llama-4-Maverick-17B-128E-Instruct", dict(
        active_params=17e9, tolerance=0.03,
        source="Llama 4 model card: 17B active (rounded: +-3%); its 400B total includes the vision "
               "encoder, which moecalc does not count")),
    "llama-3.1-8b": ("Llama-3.1-8B", "meta-llama/Llama-3.1-8B", dict(
        total_params=8.030261248e9, source="safetensors total_size 16,060,522,496 bytes (bf16) / 2")),
    "llama-3.1-70b": ("Llama-3.1-70B", "meta-llama/Llama-3.1-70B", dict(
        total_params=70.553706496e9, source="safetensors total_size 141,107,412,992 bytes (bf16) / 2")),
    "mistral-7b": ("Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1", dict(
        total_params=7.241732096e9, source="safetensors total_size 14,483,464,192 bytes (bf16) / 2")),
    "qwen2.5-7b": ("Qwen2.5-7B", "Qwen/Qwen2.5-7B", dict(
        total_params=7.61e9, source="Qwen2.5-7B model card: 7.61B total, 6.53B non-embedding")),
    "qwen3-8b": ("Qwen3-8B", "Qwen/Qwen3-8B", dict(
        total_params=8.19e9, source="Qwen3-8B model card: 8.2B total, 6.95B non-embedding")),
}

# The 2025-26 flagships, from tests/data/configs/families (and more/): stem: (name, repo, stated, config)
MODELS_2025 = {
    "deepseek-v3.2": ("DeepSeek-V3.2", "deepseek-ai/DeepSeek-V3.2", dict(
        active_params=37e9, tolerance=0.02,
        source="DeepSeek-V3.2 (as V3): 37B activated; its 685B counts the 13.5B MTP module, which moecalc "
               "reports apart (params.mtp)"), "families/deepseek-v3.2.json"),
    "qwen3-next-80b-a3b": ("Qwen3-Next-80B-A3B", "Qwen/Qwen3-Next-80B-A3B-Instruct", dict(
        total_params=80e9, tolerance=0.01, source="Qwen3-Next model card: 80B total, 3B activated (too rounded "
                                                   "to check)"), "families/qwen3-next-80b-a3b.json"),
    "qwen3-vl-235b-a22b": ("Qwen3-VL-235B-A22B", "Qwen/Qwen3-VL-235B-A22B-Instruct", dict(
        total_params=235e9, active_params=22e9, tolerance=0.02,
        source="Qwen3-VL model card: 235B total, 22B activated"), "families/qwen3-vl-235b-a22b.json"),
    "qwen3.5-397b-a17b": ("Qwen3.5-397B-A17B", "Qwen/Qwen3.5-397B-A17B", dict(
        total_params=397e9, active_params=17e9, tolerance=0.03,
        source="Qwen3.5 model card: 397B total, 17B activated (rounded)"), "more/qwen3.5-397b-a17b.json"),
    "glm-4.7": ("GLM-4.7", "zai-org/GLM-4.7", dict(
        total_params=355e9, active_params=32e9, tolerance=0.015,
        source="GLM-4.5/4.6/4.7 (one architecture): 355B total, 32B activated; the 92 main layers hold 352.8B, "
               "the rest is the MTP layer moecalc reports apart"), "more/glm-4.7.json"),
    "glm-4.7-flash": ("GLM-4.7-Flash", "zai-org/GLM-4.7-Flash", dict(
        total_params=31.221488576e9, tolerance=0.05,
        source="GLM-4.7-Flash weight files: 31,221,488,576 parameters with its MTP layer (29.94B without)"),
        "families/glm-4.7-flash.json"),
    "minimax-m2.5": ("MiniMax-M2.5", "MiniMaxAI/MiniMax-M2.5", dict(
        total_params=229e9, active_params=10e9, tolerance=0.05,
        source="MiniMax-M2 model card: 230B total, 10B activated (M2.5 keeps its dimensions; rounded)"),
        "families/minimax-m2.5.json"),
    "kimi-k2.5": ("Kimi-K2.5", "moonshotai/Kimi-K2.5", dict(
        active_params=32e9, tolerance=0.03,
        source="Kimi K2.5 model card: 1T total (too rounded to check), 32B activated"), "families/kimi-k2.5.json"),
    "nemotron-3-nano-30b-a3b": ("Nemotron-3-Nano-30B-A3B", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", dict(
        total_params=31.6e9, tolerance=0.01, source="NVIDIA Nemotron 3 Nano model card: 31.6B total"),
        "families/nemotron-3-nano-30b-a3b.json"),
}


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    models = {**{stem: (*m, f"{stem}.json") for stem, m in MODELS.items()}, **MODELS_2025}
    for stem, (name, repo, stated, where) in models.items():
        config = f"tests/data/configs/{where}"
        text = import_config(str(root / config), name=name, source=HF.format(repo))
        text = text.replace(str(root / config), config)
        text += dump_yaml({"stated": stated})
        write_atomically(str(root / "model_specs" / f"{stem}.yaml"), text, force=True)
        print("wrote", stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
