"""A price basis (``moecalc.prices``) in words: the note printed beside a cost, and the sweep's
one line on GPU types ranked without a price or on a stale or undated one."""

from __future__ import annotations

from moecalc.prices import CHECK, TODAY_ENV, USER_GIVEN, flagged, why


def _keys(b: dict) -> str:
    return f" ({', '.join(b['price_source_keys'])})" if b.get("price_source_keys") else ""


def basis(b: dict) -> str | None:
    """What a cost's price rests on, in one phrase beside its source (None: no price, or the
    user's own): its kind and freshness, and the day that was judged on unless it is undated."""
    if b.get("price_freshness") in (None, USER_GIVEN):
        return None
    text = (f"{b['price_kind']}, " if b.get("price_kind") else "") + why(b)
    if b["price_freshness"] != "undated":
        text += f", as of {b['price_as_of']} ({TODAY_ENV})"
    return f"{text}: {CHECK}" if flagged(b) else text


def sweep_line(summary: dict) -> str | None:
    """One line naming the swept GPU types ranked without a price and those priced stale or
    undated (None when there are none)."""
    parts = []
    if summary.get("unpriced_gpus"):
        parts.append(f"ranked without a price (last on cost; give --price-per-hour): "
                     f"{', '.join(summary['unpriced_gpus'])}")
    if summary.get("stale_prices"):
        on = summary["price_as_of"]
        shown = ", ".join(f"{s['gpu']} ${s['price_per_gpu_hour']:.2f}/h {why({**s, 'price_as_of': on})}{_keys(s)}"
                          for s in summary["stale_prices"])
        parts.append(f"stale or undated prices ({CHECK}; as of {on}, {TODAY_ENV}): {shown}")
    return "prices: " + "; ".join(parts) if parts else None


__all__ = ["basis", "sweep_line"]
