"""The base types of every YAML schema (model specs, hardware files, sweep plans), once."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_DIMENSION = 1 << 24
"""No dimension of a model or hardware profile is over 2^24 (16.7M): a bound on every array a
count sizes (per-layer masks, per-expert tables), far above any real model. ``ArchitectureSpec``
holds the widths whose products make parameter counts to tighter limits (no int64 overflow)."""
Pos = Annotated[int, Field(gt=0, le=MAX_DIMENSION)]
NonNeg = Annotated[int, Field(ge=0, le=MAX_DIMENSION)]
Amount = Annotated[int, Field(ge=0, le=1 << 50)]       # a parameter or byte count (up to 1.1e15)
MAX_FLOAT = 1e18
"""No real number in a spec or hardware file is over 1e18 (parameters are at most ~1e13, and
hardware figures come in G and T units): a product of two stays finite. A price of 1.8e308 in a
hardware file made an infinite cost before (found by the fuzz campaign)."""
PosFloat = Annotated[float, Field(gt=0, le=MAX_FLOAT, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, le=MAX_FLOAT, allow_inf_nan=False)]


class Strict(BaseModel):
    """Unknown keys are errors and values keep their YAML types (no "8" for 8). The schema is
    built at a model's first validation (defer_build): a start that takes the catalog and a
    bundled spec from moecalc's cache (``moecalc.cache``) validates nothing (~35 ms)."""
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class SpecProblem(ValueError):
    """A check across fields, raised from a model validator, that names the field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
