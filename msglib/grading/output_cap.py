"""A cap on what one cell may print, installed in nbgrader's kernel before any cell runs.

A cell that prints 200 MB would otherwise send it all over the kernel's sockets to
nbclient, which parses and keeps it: on a loaded machine that outlasts the cell
timeout, and correct work would end as an error. The kernel's ``stdout`` and
``stderr`` are wrapped so that each cell forwards at most ``max_chars`` characters
per stream, then one line saying the rest was cut (that line reaches the feedback);
the count starts again at every cell. The cap is a cost guard, not a security
boundary: code that removes it only makes its own run slower, and the verdicts
that count come from the independent re-run.
"""
from __future__ import annotations

import sys
from typing import Any

TRUNCATED = "output truncated by the grader"
MAX_CHARS = 50_000      # characters per stream per cell (below LimitOutputBytes, so the note survives)


class CappedStream:
    """A text stream that forwards up to ``max_chars`` characters per cell and drops the rest."""

    def __init__(self, stream: Any, max_chars: int) -> None:
        self._stream, self._max = stream, max_chars
        self.reset()

    def reset(self, *args: Any) -> None:
        self._left, self._noted = self._max, False

    def write(self, text: str) -> int:
        if self._left > 0:
            part = text[: self._left]
            self._left -= len(part)
            self._stream.write(part)
            if len(part) == len(text):
                return len(text)
        if not self._noted:
            self._noted = True
            self._stream.write(f"\n... {TRUNCATED}: this cell printed more than {self._max:,} characters; "
                               "the rest is not shown ...\n")
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install(max_chars: int = MAX_CHARS) -> None:
    """Wrap the kernel's stdout and stderr, and reset their budgets before every cell (IPython's event)."""
    streams = []
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if not isinstance(current, CappedStream):
            current = CappedStream(current, max_chars)
            setattr(sys, name, current)
        streams.append(current)
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined in an IPython kernel
    except NameError:
        from IPython import get_ipython as _get

        ip = _get()
    if ip is not None:
        for stream in streams:
            ip.events.register("pre_run_cell", stream.reset)
