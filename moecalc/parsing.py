"""Parsing human quantities from text (command-line values, plan files): counts with k/M suffixes,
byte sizes, prices, sweep axes. Rendering them for humans lives in moecalc.render.units."""

from __future__ import annotations

import math
import re

from moecalc.errors import MoecalcError

_COUNT = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]*)?)\s*([kKmMgG]?)\s*$")
_COUNT_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_BYTES = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_BYTE_SCALE = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
               "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


LIMITS = {
    "--batch": 1 << 20, "--gpus": 1 << 17, "--tp": 1 << 17, "--dp": 1 << 17, "--pp": 1 << 17, "--ep": 1 << 17,
    "--cp": 1 << 17, "--vp": 1 << 10, "--gpus-per-node": 1 << 17, "--max-nodes-per-token": 1 << 17,
    "--redundant-experts": 1 << 16, "--mtp": 16, "--top": 1 << 10, "--micro-batch": 1 << 20,
    "--gpu-expert-cache": 1 << 16, "--prefill-batch": 1 << 20,
}
"""The largest value of each counted option: generous for real deployments (a million
sequences, 131,072 GPUs, 16M tokens of context), and small enough that no array, loop or
product they size can overflow or run away. Anything not listed (contexts, prompt and output
lengths, route's tokens, sequence lengths) is at most 2^24 tokens."""
MAX_TOKENS = 1 << 24
MAX_AXIS = 1 << 16              # values on one sweep axis


def parse_count(text: str, field: str, minimum: int = 1) -> int:
    """A token or sequence count: ``4096``, ``32k`` / ``128K`` (x1024), ``1M`` (x2^20), at most
    the option's ``LIMITS`` (2^24 tokens otherwise)."""
    m = _COUNT.match(str(text))
    if not m:
        raise MoecalcError(f"{str(text)[:40]!r} is not a count (examples: 4096, 32k, 128K, 1M)", field=field)
    value = float(m.group(1)) * _COUNT_SCALE[m.group(2).lower()]
    if not value.is_integer():
        raise MoecalcError(f"{text!r} is not a whole number", field=field)
    if value < minimum:
        raise MoecalcError(f"must be at least {minimum}, got {text!r}", field=field)
    limit = LIMITS.get(field, MAX_TOKENS)
    if value > limit:
        raise MoecalcError(f"must be at most {limit:,} (the largest moecalc takes), got {str(text)[:40]!r}", field=field)
    return int(value)


def parse_bytes(text: str, field: str) -> float:
    """A byte size: ``2GiB``, ``1.5GB``, ``512MiB``, or plain bytes. GB = 1e9, GiB = 2^30."""
    m = _BYTES.match(str(text))
    if not m:
        raise MoecalcError(f"{text!r} is not a byte size (examples: 2GiB, 1.5GB, 0)", field=field)
    value = float(m.group(1)) * _BYTE_SCALE[(m.group(2) or "b").lower()]
    if not math.isfinite(value):
        raise MoecalcError(f"{text!r} is not finite", field=field)
    return value


def parse_positive(text: str, field: str, what: str = "a number") -> float:
    """A positive, finite number (a limit, a price)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise MoecalcError(f"{text!r} is not {what}", field=field) from None
    if not (math.isfinite(value) and value > 0):
        raise MoecalcError(f"must be a positive number, got {text!r}", field=field)
    if not MIN_REAL <= value <= MAX_REAL:      # products and quotients of it stay finite
        raise MoecalcError(f"must be between {MIN_REAL:g} and {MAX_REAL:g}, got {text!r}", field=field)
    return value


MIN_REAL, MAX_REAL = 1e-9, 1e9
"""A positive number moecalc takes (a price, a limit, a factor): nine decades either side of 1."""


def parse_price(text: str, field: str) -> float:
    """A price in USD: ``2.49`` or ``$2.49``."""
    return parse_positive(str(text).strip().removeprefix("$"), field, "a price in USD (example: 2.49)")


def parse_axis(text: str, field: str, minimum: int = 1) -> tuple[int, ...]:
    """A sweep axis of counts: ``1,2,4``; ``1..1024`` (the powers of two from 1 to 1024);
    ``start:stop:step`` (stop included); sizes take k/M suffixes (``4k,32k``)."""
    raw = str(text).strip()
    if not raw:
        raise MoecalcError("is empty", field=field)
    values: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if ".." in part:
            lo, _, hi = part.partition("..")
            a, b = parse_count(lo, field, minimum=1), parse_count(hi, field, minimum=1)
            if a & (a - 1):
                raise MoecalcError(f"{part!r}: a power-of-two range must start at a power of two", field=field)
            values += [1 << i for i in range(a.bit_length() - 1, b.bit_length()) if a <= 1 << i <= b]
        elif ":" in part:
            bits = part.split(":")
            if len(bits) != 3:
                raise MoecalcError(f"{part!r} is not start:stop:step", field=field)
            a, b = (parse_count(x, field, minimum=minimum) for x in bits[:2])
            step = parse_count(bits[2], field, minimum=1)
            if len(values) + max(0, (b - a) // step + 1) > MAX_AXIS:     # counted before it is built
                raise MoecalcError(f"{part!r} has {(b - a) // step + 1:,} values; an axis takes at most "
                                   f"{MAX_AXIS:,}", field=field)
            values += list(range(a, b + 1, step))
        else:
            values.append(parse_count(part, field, minimum=minimum))
        if len(values) > MAX_AXIS:
            raise MoecalcError(f"has over {MAX_AXIS:,} values", field=field)
    if not values:
        raise MoecalcError(f"{raw!r} produces no values", field=field)
    return tuple(dict.fromkeys(values))
