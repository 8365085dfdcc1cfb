"""Atomic file and folder writes: a failed or killed save leaves the old files or the new ones, never a mix.

Every writer in bertzoo (configs, tokenizer files, checkpoints in every format) goes through these helpers: a
file is written under a temporary name in its folder and renamed into place when complete; a folder write
(``atomic_folder``) stages its files inside the destination and commits them with a journal
(``bert_core.files_commit``), and loaders call ``check_folder`` to complete a commit that a kill interrupted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator

from bert_core import files_commit as _commit
from bert_core.files_commit import FolderBusyError, InterruptedWriteError

__all__ = ["FolderBusyError", "InterruptedWriteError", "atomic_folder", "atomic_path", "atomic_write_bytes",
           "atomic_write_text", "check_folder"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, on error removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    # Hand writers a name that does not exist yet: re-opening an existing file with truncation makes close() wait
    # for the discarded (empty) extent on ext4, about 0.1 s per 400 MiB written.
    os.remove(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; saved models are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.remove(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_folder(folder: str | os.PathLike, *, replaces: Iterable[str] | None = None,
                  lock_timeout: float = 2.0) -> Iterator[str]:
    """Yield an empty staging folder; when the block ends without error its files replace those in ``folder``.

    Whatever fails or is killed at any point, ``folder`` holds the complete old files or the complete new ones
    (readers call ``check_folder`` to finish a commit a kill interrupted). ``folder`` is created if needed; the
    staging folder lies inside it, so a destination that is a mount point works. An error in the block leaves
    ``folder`` as it was.

    Which old files go: those the write produces anew, and the old files of each group it writes (weights in
    every format, ``config.json``/``bert_config.json``, tokenizer files; see ``files_commit.GROUPS``), so a
    folder never ends with two checkpoints and one config. Other files stay. ``replaces`` (glob patterns)
    overrides the groups: ``replaces=()`` keeps every old file the write does not produce.

    Writers into one folder are serialised by a lock on the folder: one that waits ``lock_timeout`` seconds
    without getting it raises ``FolderBusyError``. Leftovers of killed writes are removed on entry.
    """
    folder = os.path.abspath(os.fspath(folder))
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        with _commit.locked(folder, lock_timeout):
            _commit.recover(folder)
            staging = _commit.create_staging(folder)
            try:
                yield os.path.join(staging, "new")
                _commit.prepare(folder, staging, replaces)
            except BaseException:
                _commit.remove_tree(staging)
                raise
            _finish(folder, staging)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only if empty: the write failed before anything reached it
        raise


def _finish(folder: str, staging: str) -> None:
    """Move the decided write in; one retry, then leave it to the next reader or writer."""
    try:
        _commit.roll_forward(folder, staging)
    except BaseException as first:
        try:
            _commit.roll_forward(folder, staging)
        except InterruptedWriteError:
            raise
        except Exception as second:
            raise _commit.interrupted(folder, staging, f"completing it failed ({second})") from first
        if not isinstance(first, Exception):
            raise  # KeyboardInterrupt / SystemExit, after the write completed
        _commit.logger.warning("%s: committing the write failed once (%s); the retry completed it", folder, first)


def check_folder(path: str | os.PathLike, *, timeout: float = 30.0) -> None:
    """Make sure the folder ``path`` (or the folder of the file ``path``) holds no half-committed write.

    Loaders call this before reading. If a write was killed while moving its files in, the new files are all
    complete on disk: this finishes the move (under the folder's write lock) and logs a warning. It raises
    ``InterruptedWriteError``, whose message says to rerun the write, if the folder cannot be completed (no write
    access), and ``FolderBusyError`` if another process is committing and does not finish within ``timeout``
    seconds. Leftovers of writes killed before their commit are removed when no writer is running. A folder
    without leftovers costs one ``os.listdir``; a missing path is left to the loader's own error.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(path):
        path = os.path.dirname(path)
    if os.path.isdir(path):
        _commit.check(path, timeout)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
