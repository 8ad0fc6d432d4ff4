"""Recurrent mixers of hybrid models, from their dimensions to the engine's ``Recurrent``:
parameters of one layer, the state a sequence holds, the recurrence's FLOPs per token.

Each variant's formulas follow its family's transformers modeling code (cited per function).
"""

from __future__ import annotations
