"""Offset checkpoint files: one number, a checksum, and a second copy.

A log keeps two offsets in small files beside its segments: the *recovery
point* (everything below it was flushed) and the *log start offset* (what
``delete_records_before`` and retention moved past). Losing the second one is
dangerous: falling back to the first segment's base offset would make records
that were deleted readable again. So each value is written

* with a CRC-32C of its text (``"1234 9a3c01f2\\n"``): a damaged digit is
  detected instead of read as another offset;
* to two files, the checkpoint and ``<name>.copy``, each replaced atomically
  (write, fsync, rename): damage to one file leaves the other.

:func:`read` returns the value and, when a copy was missing or damaged, a
sentence saying so; the log's recovery report carries it.
"""
from __future__ import annotations

from typing import Protocol

from .crc import crc32c

COPY_SUFFIX = ".copy"


class _Files(Protocol):
    def read_file(self, name: str) -> bytes | None: ...
    def write_file(self, name: str, data: bytes) -> None: ...


def encode(value: int) -> bytes:
    """The file content for ``value``: the number, a space, the CRC-32C of the number's text."""
    text = str(value)
    return f"{text} {crc32c(text.encode()):08x}\n".encode()


def decode(data: bytes) -> int | None:
    """The value in a checkpoint file's content, or None if it is damaged (bad format or checksum)."""
    try:
        text, crc = data.decode("ascii").split()
        value = int(text)
        ok = int(crc, 16) == crc32c(text.encode()) and str(value) == text
    except (UnicodeDecodeError, ValueError):
        return None
    return value if ok else None


def write(files: _Files, name: str, value: int) -> None:
    """Write ``value`` to both copies (each atomically, the main file first)."""
    data = encode(value)
    files.write_file(name, data)
    files.write_file(name + COPY_SUFFIX, data)


def read(files: _Files, name: str) -> tuple[int | None, str | None]:
    """``(value, note)``: the checkpointed value (None if neither copy is readable) and what was wrong.

    When both copies are readable but differ (a crash between the two writes),
    the larger is taken: these offsets only grow in normal operation, and
    taking the larger never brings back a deleted record.
    """
    raw = [files.read_file(name), files.read_file(name + COPY_SUFFIX)]
    values = [None if data is None else decode(data) for data in raw]
    states = ["missing" if data is None else "damaged" if v is None else "ok" for data, v in zip(raw, values)]
    good = [v for v in values if v is not None]
    if not good:
        if states == ["missing", "missing"]:
            return None, None
        return None, f"{name}: both copies unreadable ({states[0]}, copy {states[1]})"
    value = max(good)
    if states == ["ok", "ok"]:
        if values[0] != values[1]:
            return value, f"{name}: the two copies differ ({values[0]} and {values[1]}): used {value}"
        return value, None
    bad = name if states[0] != "ok" else name + COPY_SUFFIX
    return value, f"{bad} was {states[0] if states[0] != 'ok' else states[1]}: used the other copy ({value})"
