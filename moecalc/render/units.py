"""Human units for display. GB = 1e9 bytes, GiB = 2^30 bytes; always labelled."""

from __future__ import annotations


def params(n: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"


def gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB"


def bytes_small(n: float) -> str:
    """Per-token sizes: bytes with a KiB/MiB companion."""
    if n >= 2**20:
        return f"{n:,.0f} B ({n / 2**20:,.2f} MiB)"
    if n >= 2**10:
        return f"{n:,.0f} B ({n / 2**10:,.2f} KiB)"
    return f"{n:,.0f} B"


def flops(n: float) -> str:
    for scale, unit in ((1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f} FLOP"


def count(n: int) -> str:
    return f"{n:,}"


def seconds(t: float) -> str:
    """Durations: s, ms or us."""
    if t >= 1:
        return f"{t:,.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:,.2f} ms"
    return f"{t * 1e6:,.1f} us"


def rate(n: float, unit: str) -> str:
    """Per-second rates with SI prefixes: rate(3.35e12, 'B') -> '3.35 TB/s'."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {prefix}{unit}/s"
    return f"{n:,.2f} {unit}/s"


def usd(n: float | None) -> str:
    if n is None:
        return "n/a"
    return f"${n:,.3f}" if n < 10 else f"${n:,.2f}"


def change(fraction: float) -> str:
    """A relative change as a signed whole percentage, '+43%' or '-3%'; one that rounds to zero is
    '0%' (never '-0%' or '+0%')."""
    text = f"{fraction:+.0%}"
    return "0%" if text in ("+0%", "-0%") else text
