"""The one exception type that reaches the user as a single line and exit code 2."""

from __future__ import annotations


class MoecalcError(Exception):
    """Bad input: a file, a field or a command-line value that moecalc cannot use.

    Rendered as ``FILE:LINE: FIELD: MESSAGE`` (parts omitted when unknown).
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field
        self.line = line

    def with_context(self, *, file: str | None = None, field: str | None = None,
                     line: int | None = None) -> "MoecalcError":
        """Fill in location parts that are still unknown; return self."""
        self.file = self.file or file
        self.field = self.field or field
        self.line = self.line or line
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"field '{self.field}': " if self.field else ""
        return printable(f"{where}{field}{self.message}")


def printable(text: str) -> str:
    """The text with control characters escaped (a YAML key holding \\x1e or a newline would
    otherwise split the one error line)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
