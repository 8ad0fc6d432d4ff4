"""Measured expert loads: per-expert token counts in expert-id order (a serving engine's
expert-load statistics), from YAML/JSON (a list, or ``counts: [...]``) or CSV (one count per
row, or ``expert,count`` rows, a header allowed), or a plain column of numbers under any name.

YAML/JSON may also hold one list per MoE layer (``[[...], [...], ...]``, what vLLM's and
SGLang's expert-load recorders dump for EPLB). ``file:PATH`` then pools the layers (each
layer routes the same tokens, so the pooled shares are the layers' average law) and reports
how far each layer's hottest expert stands above the pooled one; ``file:PATH#N`` takes layer N
(0-based) alone.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from moecalc.errors import MoecalcError


def read_profile(path: str, layer: int | None = None) -> tuple[list[float], list[list[float]]]:
    """(the counts used, every layer's counts): per-expert counts from a YAML/JSON list (or
    ``counts:``), a list of such lists (one per MoE layer: pooled, or ``layer`` alone) or a CSV
    file (one layer)."""
    layers = _read_layers(path)
    if layer is not None:
        if layer >= len(layers):
            raise MoecalcError(f"layer {layer} asked for, but the file holds {len(layers)} layer"
                               f"{'s' * (len(layers) != 1)} (0-based)", file=path, field="counts")
        return layers[layer], layers
    if len(layers) == 1:
        return layers[0], layers
    widths = {len(row) for row in layers}
    if len(widths) > 1:
        raise MoecalcError(f"layers hold different expert counts ({', '.join(str(w) for w in sorted(widths))})",
                           file=path, field="counts")
    shares = [[v / sum(row) for v in row] for row in layers]      # each layer's law, then their mean
    return [sum(col) / len(shares) for col in zip(*shares)], layers


def _read_layers(path: str) -> list[list[float]]:
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
        if data and all(isinstance(row, list) for row in data):          # one list per MoE layer
            return [_checked(_numbers(row, path, f"layer {j}, "), path, f"layer {j}: ") for j, row in enumerate(data)]
        values = _numbers(data, path)
    return [_checked(values, path)]


def _numbers(data: list, path: str, where: str = "") -> list[float]:
    values = []
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MoecalcError(f"{where}expert {i}: {v!r} is not a number", file=path, field="counts")
        values.append(float(v))
    return values


def _checked(values: list[float], path: str, where: str = "") -> list[float]:
    for i, v in enumerate(values):
        if not math.isfinite(v) or v < 0:
            raise MoecalcError(f"{where}expert {i}: count {v:g} must be a finite number >= 0", file=path,
                               field="counts")
    if not values:
        raise MoecalcError(f"{where}no counts", file=path, field="counts")
    if sum(values) <= 0:
        raise MoecalcError(f"{where}every count is 0: no load to profile", file=path, field="counts")
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
