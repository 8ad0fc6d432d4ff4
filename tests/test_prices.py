"""Sources (issue 21): every source key the bundled hardware catalog cites exists in the project
reference's ``sources:`` table.

The reference is held through tests/data/hardware_reference.json, a copy of the project
reference's ``sources:`` keys and ``prices_usd_per_gpu_hr`` list (tests read tests/data);
``test_the_reference_copy_is_current`` compares the copy, and the catalog's citations, with
../shared/reference/hardware.yaml where that sits beside the repository, and skips where not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import DATA

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "moecalc" / "data" / "hardware.yaml"
REFERENCE = ROOT.parent / "shared" / "reference" / "hardware.yaml"
COPY = json.loads((DATA / "hardware_reference.json").read_text())


def _cited(data: dict) -> dict[str, list[str]]:
    """Every source key the catalog cites -> where: snake_case names in `source` and
    `price_source` strings, a `price_source`'s parenthesised keys, and `price_source_keys`.
    (A one-word key such as genz reads like prose; those are checked only where structured.)"""
    cited: dict[str, list[str]] = {}
    for section in ("accelerators", "interconnects", "hosts"):
        for name, entry in data.get(section, {}).items():
            where = f"{section}.{name}"
            for field in ("source", "price_source"):
                text = entry.get(field) or ""
                for key in re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text):
                    cited.setdefault(key, []).append(f"{where}.{field}")
                for group in re.findall(r"\(([a-z0-9_]+(?:, ?[a-z0-9_]+)*)\)", text) if field == "price_source" else ():
                    for key in re.split(r", ?", group):
                        cited.setdefault(key, []).append(f"{where}.{field}")
            for key in entry.get("price_source_keys") or []:
                cited.setdefault(key, []).append(f"{where}.price_source_keys")
    return cited


def test_every_cited_source_key_exists():
    cited = _cited(yaml.safe_load(BUNDLED.read_text()))
    missing = {k: v for k, v in cited.items() if k not in set(COPY["sources"])}
    assert not missing, f"cited but not in the reference sources table: {missing}"
    assert "public_hw_notes_md" in cited and "claude_research_md" not in cited      # the renamed key, followed


def test_the_reference_copy_is_current():
    """The copy in tests/data against ../shared/reference, and the catalog's citations against the
    reference itself (skipped where ../shared is not beside the repository)."""
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} is not here")
    ref = yaml.safe_load(REFERENCE.read_text())
    assert sorted(ref["sources"]) == COPY["sources"], "refresh tests/data/hardware_reference.json"
    assert json.loads(json.dumps(ref["prices_usd_per_gpu_hr"], default=str)) == COPY["prices_usd_per_gpu_hr"], \
        "refresh tests/data/hardware_reference.json"
    missing = sorted(set(_cited(yaml.safe_load(BUNDLED.read_text()))) - set(ref["sources"]))
    assert not missing, f"cited but not in {REFERENCE}: {missing}"
