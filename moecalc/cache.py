"""moecalc's on-disk cache: results that are slow to make and pure functions of their inputs
(the bundled hardware catalog as validated objects; solved routing terms), kept between runs.

Where: ``MOECALC_CACHE_DIR``, else ``$XDG_CACHE_HOME/moecalc``, else ~/.cache/moecalc;
``MOECALC_CACHE_DIR=off`` turns it off. An entry's file name is a hash of everything its value
depends on (the inputs, moecalc's version and its source files, Python's and the libraries'
versions), so a changed input or upgraded code never reads a stale entry. Entries are written
atomically; one that cannot be read or written is recomputed, never an error. Values are
pickles that only moecalc writes, in the user's own cache folder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path


def folder() -> Path | None:
    """The cache folder, or None when turned off."""
    given = os.environ.get("MOECALC_CACHE_DIR")
    if given is not None:
        return None if given.strip().lower() in ("", "off", "0", "none") else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "moecalc"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """moecalc's version and a hash of its source files' sizes and times, with Python's and
    numpy's and pydantic's versions: what every entry's key includes."""
    import numpy
    import pydantic

    import moecalc

    root = Path(moecalc.__file__).parent
    h = hashlib.sha256(f"{moecalc.__version__} {sys.version} {numpy.__version__} {pydantic.VERSION}".encode())
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _path(kind: str, key: bytes) -> Path | None:
    base = folder()
    if base is None:
        return None
    digest = hashlib.sha256(code_version().encode() + b"\0" + key).hexdigest()[:32]
    return base / f"{kind}-{digest}.pickle"


def load(kind: str, key: bytes):
    """The value stored under (kind, key), or None."""
    path = _path(kind, key)
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:               # a damaged or foreign entry: recompute
        return None


def store(kind: str, key: bytes, value) -> None:
    """Keep ``value`` under (kind, key); a cache that cannot be written is skipped."""
    import tempfile                 # only a write needs it (~10 ms of a start)

    path = _path(kind, key)
    if path is None:
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
    except Exception:
        pass
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
