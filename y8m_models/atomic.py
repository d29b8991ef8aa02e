"""All-or-nothing files: what a later step reads (checkpoints, ``best.pt``, ``run.json``, stacks, example
weights, attention dumps, manifests, reports, index caches) is written through ``replacing``.

The bytes go to a temporary file in the same folder (``.<name>.<pid>.tmp``), which is flushed to the disk,
renamed over the destination, and the folder flushed too; so a reader finds the old file or the new one, never
a part, whatever happens to the writer (an exception, a full disk, ``kill -9``, a power cut). On an exception
the temporary file is removed and the destination is untouched; after a ``kill -9`` it stays until the next
process that owns the folder calls ``remove_leftovers`` (``train.fit`` does, for its run folder). A full disk
(ENOSPC, EDQUOT) is raised as ``DiskFull``, whose message says "disk full" and names the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

FULL = (errno.ENOSPC, errno.EDQUOT)
TEMPORARY = re.compile(r"\..+\.(\d+)\.tmp")  # ``temporary``'s names; the group is the writer's pid


class DiskFull(OSError):
    """No space left for a file: ``str()`` is ``disk full while writing PATH (...)``."""


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to the disk, where the system lets a folder be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def disk_full(exc: BaseException | None) -> OSError | None:
    """The ENOSPC / EDQUOT error in ``exc``'s chain, if any (``torch.save`` turns it into a RuntimeError of its
    zip writer, raised while handling it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in FULL:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def raise_if_full(exc: BaseException, path: Path) -> None:
    """``DiskFull`` naming ``path`` (from ``exc``) where ``exc``'s chain holds a full disk; else nothing."""
    full = disk_full(exc)
    if full is not None:
        raise DiskFull(full.errno, f"disk full while writing {path} ({full.strerror})") from exc


def temporary(path: Path) -> Path:
    """Where ``replacing`` writes ``path`` before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def remove_leftovers(folder: Path) -> list[str]:
    """Remove the temporary files that killed writers left in ``folder`` (all but this process's own); returns
    their names. Call it only from the one process that owns the folder (a run's trainer), before it writes."""
    removed = []
    for entry in os.scandir(folder):
        found = TEMPORARY.fullmatch(entry.name)
        if found and int(found.group(1)) != os.getpid() and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(entry.name)
    return sorted(removed)


@contextlib.contextmanager
def replacing(path: str | Path, mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """``with replacing(path) as f: ...``: ``f`` (``open(temporary, mode, **open_args)``) writes a temporary file
    that becomes ``path`` when the block ends without an exception (see the module's docstring)."""
    path = Path(path)
    tmp = temporary(path)
    try:
        with open(tmp, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        raise_if_full(exc, path)
        raise
    sync_folder(path.parent)


def write_text(path: str | Path, text: str) -> None:
    with replacing(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as handle:
        handle.write(data)


def save_torch(obj: Any, path: str | Path) -> None:
    """``torch.save`` all or nothing."""
    import torch

    with replacing(path) as handle:
        torch.save(obj, handle)


def save_npz(path: str | Path, **arrays: Any) -> None:
    """``np.savez`` all or nothing (the name is kept as given: no ``.npz`` is appended)."""
    import numpy as np

    with replacing(path) as handle:  # a file object: np.savez would otherwise append ".npz" to a name
        np.savez(handle, **arrays)


def save_npy(path: str | Path, array: Any) -> None:
    """``np.save`` all or nothing."""
    import numpy as np

    with replacing(path) as handle:
        np.save(handle, array, allow_pickle=False)


def new_or_empty(folder: Path) -> bool:
    """``folder`` can be written as a whole: absent, or an empty folder (``folder_in_place``'s ``out``)."""
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


@contextlib.contextmanager
def folder_in_place(out: Path) -> Iterator[Path]:
    """A folder built beside ``out`` (absent, or an empty folder) and renamed to it when the block ends without
    an error; removed otherwise, so that ``out`` is whole or not there."""
    import shutil

    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
