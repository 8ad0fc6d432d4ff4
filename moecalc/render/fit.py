"""Layouts that fit the terminal: a view offers a wide layout and narrower ones, and the first that
fits the width it is printed at is shown, so that no identifier (a model name, a repository id, a
GPU key) is cut with an ellipsis or wrapped in the middle of a word at 80 columns."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement

WIDE = 10_000          # measure at this width: a layout's natural width, not the terminal's


class FirstFit:
    """The first of ``layouts`` that fits the width it is printed at; the last one otherwise.

    ``need="natural"``: a layout fits when its natural width (every cell on one line) does;
    ``need="words"``: when its columns at their narrowest (each the width of its longest word)
    do, so that rich may wrap cells between words but never has to cut one."""

    def __init__(self, *layouts: RenderableType, need: str = "natural"):
        if not layouts or need not in ("natural", "words"):
            raise ValueError("FirstFit needs at least one layout and need 'natural' or 'words'")
        self.layouts, self.need = layouts, need

    def pick(self, console: Console, options: ConsoleOptions) -> RenderableType:
        for layout in self.layouts[:-1]:
            m = Measurement.get(console, options.update(max_width=WIDE), layout)
            if (m.maximum if self.need == "natural" else m.minimum) <= options.max_width:
                return layout
        return self.layouts[-1]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.pick(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.pick(console, options))


class WholeWords:
    """A table whose cells wrap between words but never inside one.

    Rich narrows the widest wrapping columns first, down to below their longest word if that is
    what it takes, and then folds the word. Here, when the table does not fit at its natural width
    but does with every column at its longest word, the columns are filled like water: each is
    raised from its longest word towards its natural width to one common level, so that the room
    goes to the narrowest columns first; otherwise rich lays it out.
    """

    def __init__(self, table):
        self.table = table

    def _ranges(self, console: Console, options: ConsoleOptions) -> list[Measurement]:
        wide = options.update(max_width=WIDE)
        return [self.table._measure_column(console, wide, c) for c in self.table.columns]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        ranges, extra = self._ranges(console, options), self.table._extra_width
        return Measurement(sum(r.minimum for r in ranges) + extra, sum(r.maximum for r in ranges) + extra)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        import copy

        ranges, extra = self._ranges(console, options), self.table._extra_width
        room = options.max_width - extra
        low, high = sum(r.minimum for r in ranges), sum(r.maximum for r in ranges)
        if high <= room or low > room:
            yield self.table
            return
        def at(level: int) -> list[int]:
            return [min(r.maximum, max(r.minimum, level)) for r in ranges]

        level = max(r.minimum for r in ranges)
        while sum(at(level + 1)) <= room and level < max(r.maximum for r in ranges):
            level += 1
        widths = at(level)
        left = room - sum(widths)
        for i, r in enumerate(ranges):          # what is left, a column each, left to right
            if left and widths[i] < r.maximum:
                widths[i] += 1
                left -= 1
        table = copy.copy(self.table)
        table.columns = [copy.copy(c) for c in self.table.columns]
        for i, (column, w) in enumerate(zip(table.columns, widths)):
            column.width = w - table._get_padding_width(i)
        yield table
