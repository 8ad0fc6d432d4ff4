"""Writing output files atomically: a temporary file in the same folder, renamed into place only
when everything was written, so a failure never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from pathlib import Path

from moecalc.errors import MoecalcError


@contextlib.contextmanager
def atomic_writer(output: str, force: bool = False, field: str = "--output", binary: bool = False):
    """Yield a text (or ``binary``) file that becomes ``output`` when the block ends without an
    exception.

    The one rule for every file moecalc writes: an existing file is replaced only with ``force``.
    """
    import tempfile                 # only a write needs it (~10 ms of a start)

    check_writable(output, force, field)
    target = Path(output)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)          # mkstemp creates 0600; give the usual mode
        if force:
            os.replace(tmp, target)
        else:                                  # exclusive: of two writers racing, one wins, one is told
            try:
                os.link(tmp, target)
                os.unlink(tmp)                 # the file lives on under its name
            except FileExistsError:
                raise MoecalcError("exists; pass --force to replace it", file=output, field=field) from None
            except OSError:                    # a file system without hard links: check, then rename
                if target.exists():
                    raise MoecalcError("exists; pass --force to replace it", file=output, field=field) from None
                os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise MoecalcError(f"cannot write: {exc.strerror or exc}", file=output, field=field) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def check_writable(output: str, force: bool, field: str = "--output") -> None:
    """Refuse an empty path, a missing folder, a folder, or an existing file without ``force``."""
    if not output.strip():
        raise MoecalcError("empty path", field=field)
    target = Path(output)
    if not target.parent.is_dir():
        raise MoecalcError("folder does not exist", file=str(target.parent), field=field)
    if target.is_dir():
        raise MoecalcError("is a folder; give a file name", file=output, field=field)
    if target.exists() and not force:
        raise MoecalcError("exists; pass --force to replace it", file=output, field=field)


@contextlib.contextmanager
def row_writer(path: str | None, force: bool, columns: tuple[str, ...]):
    """Yield an ``on_rows(rows)`` callback that streams blocks of rows (a dict of equal-length
    arrays) to ``path`` (.csv or .json) through ``atomic_writer``; None without a path."""
    if path is None:
        yield None
        return
    suffix = Path(path).suffix
    if suffix not in (".csv", ".json"):
        raise MoecalcError("must end in .csv or .json", field="--output")
    with atomic_writer(path, force) as f:
        first = True
        if suffix == ".json":
            f.write("[")
        else:                           # the header even when no row comes
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)

        def finite(v):                  # NaN is "none" (a GPU without a price): null / an empty cell
            if isinstance(v, float) and not math.isfinite(v):
                if math.isnan(v):
                    return None
                raise ValueError(f"non-finite value {v} in a row")     # a bug: the engine makes none
            return v

        def on_rows(rows: dict) -> None:
            nonlocal first
            keys = list(rows)
            table = ([finite(v) for v in row] for row in zip(*(rows[k].tolist() for k in keys)))
            if suffix == ".csv":
                writer.writerows(["" if v is None else v for v in row] for row in table)
                return
            for row in table:
                f.write(("\n" if first else ",\n") + json.dumps(dict(zip(keys, row)), allow_nan=False))
                first = False

        yield on_rows
        if suffix == ".json":
            f.write("\n]\n")
