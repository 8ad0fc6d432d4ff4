"""The ``moecalc`` command's entry point (and ``python -m moecalc``'s): what a process of its
own sets before the imports, then ``moecalc.cli.main``."""

from __future__ import annotations

import os

ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""moecalc's arrays are elementwise and its matrix products tiny: a BLAS thread pool would only
be started (~0.1 s of CPU at numpy's import, one thread per core) and never used. The user's
own setting wins."""


def main() -> None:
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    from moecalc.cli import main as run

    run()
