"""Where a log's files live: in memory or on disk, behind one small interface.

A partition's log is a directory of files (``00000000000000000000.log``,
``.index``, ``.timeindex``, checkpoints). The log code only ever asks a
:class:`Storage` for named files and then appends, reads at a position,
truncates and syncs them, so the same code runs on:

* :class:`MemoryStorage` -- a dict of ``bytearray``s. The notebooks' fast
  default. Each file remembers how many of its bytes were *synced*;
  :meth:`MemoryStorage.crash` throws the rest away, which is exactly what a
  power cut does to data still in the OS page cache. So durability lessons
  (and the simulated cluster's broker crashes) work without touching a disk.
* :class:`DiskStorage` -- real files in a real directory. Writes go straight
  to the OS (no Python-side buffer), so a ``kill -9`` loses nothing that was
  written; :meth:`FileHandle.sync` is ``fsync``, which also survives a power cut.
"""
from __future__ import annotations

import os
from typing import Protocol


class FileHandle(Protocol):
    """One open file of a log directory."""

    name: str

    def size(self) -> int: ...
    def append(self, data: bytes | tuple) -> int: ...  # bytes or a tuple of buffers; returns the position
    def read(self, position: int, size: int) -> bytes: ...
    def truncate(self, size: int) -> None: ...
    def sync(self) -> None: ...                        # make everything written so far durable
    def close(self) -> None: ...


class Storage(Protocol):
    """A directory of named files."""

    description: str

    def open(self, name: str) -> FileHandle: ...       # creates the file if missing
    def exists(self, name: str) -> bool: ...
    def list(self) -> list[str]: ...                   # sorted names
    def delete(self, name: str) -> None: ...
    def rename(self, old: str, new: str) -> None: ...
    def read_file(self, name: str) -> bytes | None: ...
    def write_file(self, name: str, data: bytes) -> None: ...  # atomic replace, durable


# --------------------------------------------------------------------------- memory
class MemoryFile:
    """A file held in a ``bytearray``; ``synced`` bytes survive :meth:`MemoryStorage.crash`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.data = bytearray()
        self.synced = 0
        self.closed = False

    def size(self) -> int:
        return len(self.data)

    def append(self, data: bytes | tuple) -> int:
        position = len(self.data)
        if type(data) is tuple:
            for part in data:
                self.data += part
        else:
            self.data += data
        return position

    def read(self, position: int, size: int) -> bytes:
        return bytes(self.data[position:position + size])

    def view(self) -> memoryview:
        """Zero-copy access to the whole file (memory backend only)."""
        return memoryview(self.data)

    def truncate(self, size: int) -> None:
        del self.data[size:]
        self.synced = min(self.synced, size)

    def sync(self) -> None:
        self.synced = len(self.data)

    def close(self) -> None:
        self.closed = True


class MemoryStorage:
    """A log directory in memory. ``crash()`` simulates losing power."""

    def __init__(self, description: str = "memory") -> None:
        self.description = description
        self.files: dict[str, MemoryFile] = {}

    def open(self, name: str) -> MemoryFile:
        f = self.files.get(name)
        if f is None:
            f = self.files[name] = MemoryFile(name)
        f.closed = False
        return f

    def exists(self, name: str) -> bool:
        return name in self.files

    def list(self) -> list[str]:
        return sorted(self.files)

    def delete(self, name: str) -> None:
        self.files.pop(name, None)

    def rename(self, old: str, new: str) -> None:
        f = self.files.pop(old)
        f.name = new
        self.files[new] = f

    def read_file(self, name: str) -> bytes | None:
        f = self.files.get(name)
        return None if f is None else bytes(f.data)

    def write_file(self, name: str, data: bytes) -> None:
        f = MemoryFile(name)
        f.data += data
        f.synced = len(f.data)
        self.files[name] = f

    def crash(self) -> dict[str, int]:
        """Lose every byte that was not synced (a power cut). Returns bytes lost per file.

        Directory entries (file creations, renames, deletes) count as durable:
        Kafka fsyncs the directory when it rolls a segment, and modelling
        that here would add nothing to the lessons.
        """
        lost = {}
        for f in self.files.values():
            if len(f.data) > f.synced:
                lost[f.name] = len(f.data) - f.synced
                del f.data[f.synced:]
        return lost

    def total_bytes(self) -> int:
        return sum(len(f.data) for f in self.files.values())

    def __repr__(self) -> str:
        return f"MemoryStorage({self.description!r}, {len(self.files)} files)"


# --------------------------------------------------------------------------- disk
# Positional reads and writes (pread/pwrite) exist on Linux and macOS; elsewhere (Windows) the
# same is done with a seek first. O_BINARY stops Windows from translating line endings.
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)


def _pread(fd: int, size: int, position: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, position)
    os.lseek(fd, position, os.SEEK_SET)
    return os.read(fd, size)


def _pwrite(fd: int, data: bytes | memoryview, position: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, position)
    os.lseek(fd, position, os.SEEK_SET)
    return os.write(fd, data)


class DiskFile:
    """A real file, written with ``os.pwrite`` (no user-space buffer to lose on kill -9).

    The file descriptor is opened on first use and may be closed by its
    :class:`DiskStorage` when too many are open (a log of thousands of
    segments must not run out of descriptors); it reopens on the next use.
    """

    def __init__(self, path: str, storage: "DiskStorage | None" = None) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.storage = storage
        self.fd = -1
        self._fd()
        self._size = os.fstat(self.fd).st_size
        self._dirty = False         # written since the last fsync

    def _fd(self) -> int:
        if self.fd < 0:
            self.fd = os.open(self.path, _OPEN_FLAGS, 0o644)
            if self.storage is not None:
                self.storage._opened(self)
        return self.fd

    def size(self) -> int:
        return self._size

    def append(self, data: bytes | tuple) -> int:
        fd = self.fd if self.fd >= 0 else self._fd()
        position = self._size
        self._dirty = True
        if type(data) is tuple and not hasattr(os, "pwritev"):
            data = b"".join(data)
        if type(data) is tuple:     # several buffers in one system call, without joining them first
            total = sum(len(part) for part in data)
            written = os.pwritev(fd, data, position)
            if written < total:     # rare: finish the rest the simple way
                self._size += written
                rest = b"".join(bytes(part) for part in data)[written:]
                self.append(rest)
                return position
            self._size += written
            return position
        view = memoryview(data)
        written = 0
        while written < len(view):  # pwrite may write less than asked
            written += _pwrite(fd, view[written:], position + written)
        self._size += written
        return position

    def read(self, position: int, size: int) -> bytes:
        return _pread(self.fd if self.fd >= 0 else self._fd(), size, position)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd(), size)
        self._size = min(self._size, size)
        self._dirty = True

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self._fd())
            self._dirty = False

    def close(self) -> None:
        # Closing loses nothing: written bytes are in the OS's page cache, and a later
        # fsync through a new descriptor flushes them (fsync is per file, not per descriptor).
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class DiskStorage:
    """A log directory on disk, e.g. ``/data/orders-0``."""

    def __init__(self, directory: str, max_open_files: int = 128) -> None:
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.description = self.directory
        self._open: dict[str, DiskFile] = {}
        self.max_open_files = max_open_files
        self._descriptors: dict[int, DiskFile] = {}   # files with an open descriptor, oldest first

    def _opened(self, f: DiskFile) -> None:
        """Track open descriptors; close the least recently opened beyond ``max_open_files``."""
        self._descriptors[id(f)] = f
        while len(self._descriptors) > self.max_open_files:
            oldest = next(iter(self._descriptors.values()))
            del self._descriptors[id(oldest)]
            if oldest is not f:
                oldest.close()

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def open(self, name: str) -> DiskFile:
        f = self._open.get(name)
        if f is None:
            f = self._open[name] = DiskFile(self._path(name), self)
        return f

    def exists(self, name: str) -> bool:
        return os.path.exists(self._path(name))

    def list(self) -> list[str]:
        return sorted(os.listdir(self.directory))

    def delete(self, name: str) -> None:
        f = self._open.pop(name, None)
        if f is not None:
            f.close()
            self._descriptors.pop(id(f), None)
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass

    def rename(self, old: str, new: str) -> None:
        for n in (old, new):
            f = self._open.pop(n, None)
            if f is not None:
                f.close()
                self._descriptors.pop(id(f), None)
        os.replace(self._path(old), self._path(new))
        self._sync_directory()

    def read_file(self, name: str) -> bytes | None:
        try:
            with open(self._path(name), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def write_file(self, name: str, data: bytes) -> None:
        """Write-then-rename, fsynced: after a crash the file is either old or new, never half."""
        tmp = self._path(name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path(name))
        self._sync_directory()

    def _sync_directory(self) -> None:
        """Make renames and new files durable (POSIX; Windows cannot open a directory, and needs not)."""
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()
        self._descriptors.clear()

    def __repr__(self) -> str:
        return f"DiskStorage({self.directory!r})"
