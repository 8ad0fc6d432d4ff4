"""Where a GPU-hour price comes from and whether it still holds: the price basis every cost
reports beside its dollars.

A catalog price carries its provenance (``moecalc/data/hardware.yaml``: ``price_date`` YYYY-MM or
null when the source is undated, ``price_kind``, ``price_valid_until`` for a rate published with an
end date, ``price_source_keys`` into the reference ``sources:`` table). ``freshness`` judges it
against a day (``today()``: ``MOECALC_TODAY=YYYY-MM-DD`` or the real date, so docs and tests are
deterministic):

- ``dated YYYY-MM``: dated, and at most ``FRESH_MONTHS`` months before that day;
- ``stale``: older than that, or a rate whose validity ended on or before that day (AWS Capacity
  Block rates valid until 2025-01-01);
- ``undated``: the source gives no date.

A price the user gives (``--price-per-hour``) is ``user-given``: not judged, not flagged.
"""

from __future__ import annotations

import datetime as dt
import os

from moecalc.errors import MoecalcError
from moecalc.spec.hardware import PRICE_KINDS as KINDS
from moecalc.spec.hardware import calendar_day

TODAY_ENV = "MOECALC_TODAY"
FRESH_MONTHS = 12
"""A dated price more than this many months before today is stale."""
USER_GIVEN = "user-given"
CHECK = "check before quoting"


def today() -> dt.date:
    """The day prices are judged on: ``MOECALC_TODAY`` (YYYY-MM-DD) when set, else the real date."""
    given = os.environ.get(TODAY_ENV, "").strip()
    if not given:
        return dt.date.today()
    return parse_day(given, TODAY_ENV)


def parse_day(text: str, field: str) -> dt.date:
    """A calendar day written YYYY-MM-DD."""
    day = calendar_day(text)
    if day is not None:
        return day
    raise MoecalcError(f"{text!r} is not a date (YYYY-MM-DD, e.g. 2026-12-02)", field=field)


def months_before(month: str, on: dt.date) -> int:
    """Whole calendar months from ``month`` (YYYY-MM) to ``on``'s month (negative: after it)."""
    year, mon = (int(p) for p in month.split("-"))
    return (on.year - year) * 12 + on.month - mon


def freshness(price_date: str | None, valid_until: str | None, on: dt.date) -> str:
    """``dated YYYY-MM``, ``stale`` or ``undated`` (the module's rules), judged on the day ``on``."""
    if valid_until is not None and dt.date.fromisoformat(valid_until) <= on:
        return "stale"
    if price_date is None:
        return "undated"
    if months_before(price_date, on) > FRESH_MONTHS:
        return "stale"
    return f"dated {price_date}"


def why(basis: dict) -> str:
    """The freshness with its reason: 'dated 2026-06', 'undated', 'stale: valid until 2025-01-01'
    or 'stale: from 2024-06, over 12 months old' (``freshness``'s two ways to be stale)."""
    verdict = basis["price_freshness"]
    if verdict != "stale":
        return verdict
    until, on = basis.get("price_valid_until"), basis.get("price_as_of")
    if until is not None and on is not None and calendar_day(until) <= calendar_day(on):
        return f"stale: valid until {until}"
    return f"stale: from {basis['price_date']}, over {FRESH_MONTHS} months old"


def flagged(basis: dict) -> bool:
    """Whether a price basis needs checking before it is quoted: a catalog price that is stale or
    undated (a user-given price and no price are not flagged)."""
    return basis.get("price_freshness") in ("stale", "undated")


def price_basis(acc, override: float | None = None, on: dt.date | None = None) -> dict:
    """The price of one GPU-hour of ``acc`` (an ``Accelerator``) and its basis, as the JSON's
    ``price_*`` keys: the catalog's price with its provenance and freshness, or ``override``
    (``--price-per-hour``: user-given), or none (every key null but the keys list)."""
    out = {**dict.fromkeys(("price_per_gpu_hour", "price_source", "price_kind", "price_date", "price_valid_until")),
           "price_source_keys": [], **dict.fromkeys(("price_freshness", "price_as_of"))}
    if override is not None:
        return {**out, "price_per_gpu_hour": override, "price_source": "--price-per-hour", "price_freshness": USER_GIVEN}
    if acc.price_usd_per_hour is None:
        return {**out, "price_source": acc.price_source}
    on = today() if on is None else on
    return {**out, "price_per_gpu_hour": acc.price_usd_per_hour, "price_source": acc.price_source,
            "price_kind": acc.price_kind, "price_date": acc.price_date, "price_valid_until": acc.price_valid_until,
            "price_source_keys": list(acc.price_source_keys),
            "price_freshness": freshness(acc.price_date, acc.price_valid_until, on), "price_as_of": on.isoformat()}


def sweep_prices(catalog, gpus, override: float | None = None, on: dt.date | None = None) -> dict:
    """What a sweep's ranking rests on, per GPU type swept (catalog keys or names, in order):
    ``unpriced_gpus``, the types without a price (they rank last on cost), and ``stale_prices``,
    one entry per type whose catalog price is stale or undated; ``price_as_of``, the day they were
    judged on. Empty (and ``price_as_of`` null) with ``override``: every type has the user's price."""
    unpriced, stale = [], []
    if override is None:
        for key, acc in dict(catalog.gpu(name) for name in gpus).items():     # each type once, in order
            basis = price_basis(acc, None, on)
            if basis["price_per_gpu_hour"] is None:
                unpriced.append(key)
            elif flagged(basis):
                stale.append({"gpu": key, **{k: basis[k] for k in (
                    "price_per_gpu_hour", "price_freshness", "price_date", "price_valid_until", "price_kind",
                    "price_source_keys", "price_source")}})
    return {"unpriced_gpus": unpriced, "stale_prices": stale,
            "price_as_of": None if override is not None else (today() if on is None else on).isoformat()}


__all__ = ["CHECK", "FRESH_MONTHS", "KINDS", "TODAY_ENV", "USER_GIVEN", "flagged", "freshness", "months_before",
           "parse_day", "price_basis", "sweep_prices", "today", "why"]
