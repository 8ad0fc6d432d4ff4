"""The ``moecalc`` command's entry point (and ``python -m moecalc``'s): what a process of its
own sets around ``moecalc.cli.main`` (one BLAS thread, a frozen start-up, a quick exit), which
an in-process caller of ``moecalc.cli.main(argv)`` does not get."""

from __future__ import annotations

import os
import sys

ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""moecalc's arrays are elementwise and its matrix products tiny: a BLAS thread pool would only
be started (~0.1 s of CPU at numpy's import, one thread per core) and never used. The user's
own setting wins."""


def main() -> None:
    import gc

    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    from moecalc.cli import main as run

    # start-up leaves ~10^5 objects that live until exit (modules, classes, pydantic schemas),
    # and each full collection scans them all and frees nothing (~30 ms of a sweep's run):
    # freeze them out of the collector's view and collect the young less often (refcounting
    # frees the engine's arrays; only cycles wait). Not in moecalc.cli.main: an in-process
    # caller freezing per call would keep each call's cyclic garbage from collection.
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        run()
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code) -> None:
    """Exit with ``code`` (SystemExit's: an int, None or a message) without the interpreter's
    teardown, which frees every module's objects one by one and collects once more (25-40 ms
    of every command) for nothing a finished command needs: its files are closed by their
    writers, its exit handlers run here and its output is flushed here (a flush that fails, a
    closed pipe, exits 120 as Python's own teardown does)."""
    import atexit

    if isinstance(code, str) and sys.stderr is not None:
        print(code, file=sys.stderr)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):         # None where the stream was closed
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                status = status or 120
    os._exit(status)
