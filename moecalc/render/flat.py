"""JSON and CSV writers for an estimate (the nested dict of moecalc.estimate)."""

from __future__ import annotations

import csv
import io
import json


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, allow_nan=False) + "\n"      # NaN or inf: a bug, exit 1


def flatten(obj, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted keys in document order: {'a': {'b': 1}} -> [('a.b', 1)]; lists joined by ';'."""
    rows: list[tuple[str, object]] = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, name + "."))
        elif isinstance(value, list):
            rows.append((name, ";".join(str(v) for v in value)))
        else:
            rows.append((name, "" if value is None else value))
    return rows


def to_csv(result: dict) -> str:
    """One result as one CSV row under a header of its dotted JSON keys: the shape of compare's
    and sweep's CSV (a row per result), so every column holds one type (pandas reads numbers)."""
    return rows_to_csv([result])


def rows_to_csv(results: list[dict]) -> str:
    """Several estimates as one CSV: a header of dotted keys (first seen order), a row each."""
    flat = [dict(flatten(r)) for r in results]
    keys = list(dict.fromkeys(k for row in flat for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()
