"""Measured expert loads: per-expert token counts in expert-id order (a serving engine's
expert-load statistics), from YAML/JSON (a list, or ``counts: [...]``) or CSV (one count per
row, or ``expert,count`` rows, a header allowed), or a plain column of numbers under any name.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from moecalc.errors import MoecalcError


def read_profile(path: str) -> list[float]:
    """Per-expert counts from a YAML/JSON list (or ``counts:``) or a CSV file."""
    from moecalc.spec.load import read_text
    from moecalc.spec.yaml_io import parse_yaml

    p = Path(path)
    text = read_text(p, path, "a load profile")
    data = None
    if p.suffix.lower() != ".csv":
        data, _ = parse_yaml(text, path)
    if p.suffix.lower() == ".csv" or isinstance(data, (str, int, float)) and not isinstance(data, bool):
        values = _csv_counts(text, path)          # CSV, or a plain column of numbers under any name
    else:
        if isinstance(data, dict):
            if "counts" not in data:
                raise MoecalcError("expected a list of per-expert counts, or a mapping with 'counts'", file=path,
                                   field="counts")
            data = data["counts"]
        if not isinstance(data, list):
            raise MoecalcError(f"expected a list of per-expert counts, got {type(data).__name__}", file=path,
                               field="counts")
        values = []
        for i, v in enumerate(data):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise MoecalcError(f"expert {i}: {v!r} is not a number", file=path, field="counts")
            values.append(float(v))
    for i, v in enumerate(values):
        if not math.isfinite(v) or v < 0:
            raise MoecalcError(f"expert {i}: count {v:g} must be a finite number >= 0", file=path, field="counts")
    if not values:
        raise MoecalcError("no counts", file=path, field="counts")
    if sum(values) <= 0:
        raise MoecalcError("every count is 0: no load to profile", file=path, field="counts")
    if not math.isfinite(sum(values)):        # counts near 1e308 overflow their sum: shares are unchanged
        peak = max(values)
        values = [v / peak for v in values]
    return values


def _csv_counts(text: str, path: str) -> list[float]:
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    except csv.Error as exc:                   # a field over csv's limit, a NUL byte
        raise MoecalcError(f"not a CSV of counts ({exc})", file=path) from None
    out = []
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if len(cells) > 2:
            raise MoecalcError(f"expected 'count' or 'expert,count' per row, got {len(cells)} columns",
                               file=path, line=n, field="count")
        try:
            value = float(cells[-1])
            if len(cells) == 2:
                expert = int(cells[0])
                if expert != len(out):
                    raise MoecalcError(f"expert ids must run 0, 1, 2, ... in order; expected {len(out)}, got "
                                       f"{expert}", file=path, line=n, field="expert")
        except ValueError:
            if n == 1 and not out:                    # a header row
                continue
            raise MoecalcError(f"{','.join(cells)!r} is not a count", file=path, line=n, field="count") from None
        out.append(value)
    return out
