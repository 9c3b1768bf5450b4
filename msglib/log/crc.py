"""CRC-32C (Castagnoli), the checksum Kafka's RecordBatch v2 uses.

Kafka checks every batch with CRC-32C computed over the bytes from the
``attributes`` field to the end of the batch (see ``records.py``). It is *not*
the CRC-32 of ``zlib.crc32``: same idea, different polynomial.

Two implementations, same answers:

* :func:`crc32c_python` -- a plain table-driven loop you can read in a minute.
  It is ~100x slower than hardware, fine for notebooks and tests.
* the ``crc32c`` package from PyPI (C, uses the CPU's CRC instruction), used
  automatically when it is installed. Why that package: it is a small, well-kept
  C extension whose only job is this function, with wheels for every platform
  we run on; it turns CRC from the dominant cost of appending and reading a
  large log into a rounding error (a 100 MB log: ~10 ms instead of ~10 s).
  ``pip install msglib[bench]`` brings it in; msglib itself needs only the stdlib.
"""
from __future__ import annotations

import os

# The reflected form of the Castagnoli polynomial 0x1EDC6F41.
POLYNOMIAL = 0x82F63B78


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            # Shift right one bit; if the bit shifted out was 1, xor in the polynomial.
            crc = (crc >> 1) ^ POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data`` in pure Python (continue from ``crc`` to checksum in pieces)."""
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # the accelerated version, when available (and not switched off for a test)
    if os.environ.get("MSGLIB_PURE_CRC"):
        raise ImportError("MSGLIB_PURE_CRC is set")
    import crc32c as _crc32c_module

    def crc32c(data: bytes, crc: int = 0) -> int:
        """CRC-32C of ``data`` (C implementation from the ``crc32c`` package)."""
        return _crc32c_module.crc32c(data, crc)

    BACKEND = "crc32c package (C)"
except ImportError:  # pragma: no cover - exercised when the package is absent
    crc32c = crc32c_python
    BACKEND = "pure Python"
