"""A progress bar on stderr for the commands that can run for seconds (a sweep, a long routing
trace, a wide comparison): shown only when stderr is a terminal and only once the command has
run for ``DELAY`` seconds, and cleared when it ends. Off a terminal (a pipe, a file, a test) it
writes nothing at all, so stdout and stderr are byte-identical with and without it.

The library reports progress through an optional ``on_progress(done, total)`` callback (None by
default: the library prints nothing); the CLI passes the one ``progress`` yields.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

DELAY = 1.0                 # seconds before a bar appears: a quick command never flashes one

Update = Callable[[int, int], None]


def on_terminal(console) -> bool:
    """Whether ``console`` writes to a real terminal. Rich counts FORCE_COLOR (set in many CI
    jobs) as a terminal; a bar there would land in a captured log, so the file itself must be a tty."""
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(console.is_terminal and isatty is not None and isatty())
    except ValueError:                  # a closed file
        return False


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def progress(description: str, console=None, delay: float | None = None,
             clock: Callable[[], float] = time.perf_counter) -> Iterator[Update]:
    """Yield ``update(done, total)``; the first call made ``delay`` (default ``DELAY``) seconds or
    more after entering, on a terminal and with work left, starts a transient bar on stderr
    (``console``: another console, for tests). Leaving the block removes the bar before anything
    else is printed."""
    console = console if console is not None else stderr_console()
    delay = DELAY if delay is None else delay
    start = clock()
    live = on_terminal(console)
    bar, task = None, None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if not live or done >= total or clock() - start < delay:
                return
            bar = _bar(console)
            task = bar.add_task(description, total=total, completed=done)
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def _bar(console):
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console, transient=True)

