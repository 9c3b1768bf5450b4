"""Variable-length integers, as in Kafka's record format (and protobuf).

A record stores its lengths and deltas as *zigzag varints*:

* zigzag maps signed to unsigned so small negatives stay small:
  0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, 2 -> 4 ... (``-1`` means "null" for keys).
* varint writes 7 bits per byte, low bits first; the top bit of a byte says
  "more bytes follow". Values below 64 in absolute value take one byte.
"""
from __future__ import annotations


def zigzag(n: int) -> int:
    """Signed -> unsigned (64-bit zigzag)."""
    return (n << 1) ^ (n >> 63)


def unzigzag(z: int) -> int:
    """Unsigned -> signed, the inverse of :func:`zigzag`."""
    return (z >> 1) ^ -(z & 1)


def encode_varint(n: int) -> bytes:
    """Zigzag-varint encoding of the signed integer ``n``."""
    z = zigzag(n)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode one zigzag varint at ``pos``; return (value, position after it).

    Raises ValueError when the data ends inside the varint or it is longer than
    10 bytes; the record decoder turns that into a :class:`CorruptRecordError`.
    """
    shift = 0
    z = 0
    while True:
        if pos >= len(data):
            raise ValueError("varint runs past the end of the data")
        byte = data[pos]
        pos += 1
        z |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


# Encoding the same small numbers (lengths, offset deltas) millions of times is
# the hot loop of the producer path, so the encodings of -16384..16383 are
# precomputed once. ``VARINT[n]`` is ``encode_varint(n)`` for that range
# (negative indexes work because the list is laid out 0..16383, -16384..-1).
_CACHE_LIMIT = 16384
VARINT: list[bytes] = [encode_varint(n) for n in range(_CACHE_LIMIT)] + \
                      [encode_varint(n) for n in range(-_CACHE_LIMIT, 0)]


def varint(n: int) -> bytes:
    """Fast :func:`encode_varint` for the common small values."""
    if -_CACHE_LIMIT <= n < _CACHE_LIMIT:
        return VARINT[n]
    return encode_varint(n)
