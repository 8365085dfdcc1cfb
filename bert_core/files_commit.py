"""The commit protocol behind ``bert_core.files.atomic_folder``: lock, staging, journal, roll forward.

New files are staged in ``<folder>/.bertzoo-staging-<pid>-<id>/new/`` (inside the destination: every rename stays
on one filesystem). The commit fsyncs them, atomically writes the journal ``COMMIT.json`` (the new names and the
old ones they supersede; from here the write is decided), moves old files aside into ``old/`` and new ones in
(config files out first, in last), fsyncs the folder, then deletes the journal and the staging folder. A kill
leaves no journal (old files untouched, a leftover the next write or check removes) or a journal whose files
are all on disk, which ``roll_forward`` (idempotent) completes. Writers ``flock`` the destination folder itself.
See docs/design.md, "Atomic writes".
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: writes stay atomic, concurrent writers are not serialised
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("bert_core.files")

STAGING_PREFIX = ".bertzoo-staging-"
JOURNAL = "COMMIT.json"
_JOURNAL_FORMAT = "bertzoo-folder-commit/1"
# Taken out first and put in last: a reader that skips check_folder finds no config mid-commit, never a mix.
KEYSTONES = ("config.json", "bert_config.json", "tokenizer_config.json")
# Files that belong together. A write that produces a file of a group supersedes the folder's other files of that
# group (a folder holds one checkpoint: new weights in any format retire the old weights in every format).
GROUPS: dict[str, tuple[str, ...]] = {
    "weights": ("model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin",
                "pytorch_model.bin.index.json", "tf_model*.h5", "tf_model.h5.index.json", "flax_model*.msgpack",
                "flax_model.msgpack.index.json", "bert_model.ckpt.index", "bert_model.ckpt.data-*"),
    "model config": ("config.json", "bert_config.json"),
    "tokenizer": ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                  "added_tokens.json"),
}
_LEGACY_SWAP = re.compile(r"\..+\.old\.[a-z0-9_]{8}$")  # subfolder swaps of bertzoo <= 0.1.0's atomic_folder


class InterruptedWriteError(RuntimeError):
    """A write into a folder was interrupted while moving its files in and could not be completed here."""


class FolderBusyError(RuntimeError):
    """Another process (or thread) holds the folder's write lock."""


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def superseded(existing: Iterable[str], new: Iterable[str], replaces: Iterable[str] | None) -> list[str]:
    """Names in ``existing`` that a write of ``new`` retires: those matching ``replaces`` (glob patterns), or by
    default every file of each group in ``GROUPS`` that the write produces a file of; names in ``new`` excluded."""
    new = set(new)
    if replaces is None:
        replaces = [p for group in GROUPS.values() if any(_matches(n, group) for n in new) for p in group]
    replaces = list(replaces)
    return sorted(n for n in existing if n not in new and not n.startswith(STAGING_PREFIX) and _matches(n, replaces))


@contextlib.contextmanager
def locked(folder: str, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (waiting up to ``timeout`` s), else raise ``FolderBusyError``."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderBusyError(
                        f"{folder}: another process is writing into this folder{_writers(folder)}. Wait for it to "
                        "finish, or write into another folder.") from None
                time.sleep(0.05)
            except OSError as e:  # e.g. a network filesystem without flock: go on unlocked
                logger.warning("%s: cannot lock the folder (%s); concurrent writes are not serialised", folder, e)
                break
        yield
    finally:
        os.close(fd)  # releases the lock


def _writers(folder: str) -> str:
    pids = sorted({name[len(STAGING_PREFIX):].split("-")[0] for name in _stagings(folder)})
    return f" (pid {', '.join(pids)})" if pids else ""


def _stagings(folder: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if n.startswith(STAGING_PREFIX))
    except (FileNotFoundError, NotADirectoryError):
        return []


def create_staging(folder: str) -> str:
    """A new staging folder in ``folder`` with an empty ``new/`` (permissions follow the umask)."""
    import tempfile

    staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder)
    os.mkdir(os.path.join(staging, "new"))
    return staging


def is_decided(staging: str) -> bool:
    return os.path.exists(os.path.join(staging, JOURNAL))


def _fsync(path: str) -> None:
    fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if os.path.isdir(path) else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prepare(folder: str, staging: str, replaces: Iterable[str] | None) -> None:
    """fsync the staged files, then write the journal: after this returns the write is decided."""
    staged = os.path.join(staging, "new")
    flush = os.environ.get("BERTZOO_FSYNC", "1") != "0"  # "0": survive kills, not power loss (no wait for disk)
    for root, _, files in os.walk(staged):
        for name in files if flush else ():
            if not os.path.islink(os.path.join(root, name)):
                _fsync(os.path.join(root, name))
        _fsync(root)
    new = sorted(os.listdir(staged))
    journal = {"format": _JOURNAL_FORMAT, "new": new, "remove": superseded(os.listdir(folder), new, replaces)}
    tmp = os.path.join(staging, JOURNAL + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(journal, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(staging, JOURNAL))


def _read_journal(folder: str, staging: str) -> tuple[list[str], list[str]]:
    try:
        with open(os.path.join(staging, JOURNAL), encoding="utf-8") as f:
            journal = json.load(f)
        new, remove = list(journal["new"]), list(journal["remove"])
        if journal.get("format") != _JOURNAL_FORMAT:
            raise ValueError(f"unknown format {journal.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise interrupted(folder, staging, f"its journal cannot be read ({e})") from None
    for name in new + remove:
        if not isinstance(name, str) or name in ("", ".", "..") or os.path.basename(name) != name:
            raise interrupted(folder, staging, f"its journal names {name!r}, not a file of the folder")
    return new, remove


def roll_forward(folder: str, staging: str) -> None:
    """Finish a decided write: move the superseded files aside and the staged ones in; safe to repeat."""
    new, remove = _read_journal(folder, staging)
    staged, old = os.path.join(staging, "new"), os.path.join(staging, "old")
    _fsync(staging)  # the journal's name is durable before the first move
    os.makedirs(old, exist_ok=True)

    def aside(name: str) -> None:
        target, dest = os.path.join(folder, name), os.path.join(old, name)
        if os.path.lexists(target):
            if os.path.lexists(dest):
                remove_tree(dest)
            os.replace(target, dest)

    def put(name: str) -> None:
        source, target = os.path.join(staged, name), os.path.join(folder, name)
        if not os.path.lexists(source):
            return  # moved in by an earlier attempt
        if os.path.lexists(target) and (_is_dir(target) or _is_dir(source)):
            aside(name)  # os.replace cannot put a folder over a folder, a file over a folder or vice versa
        os.replace(source, target)

    keys = [n for n in KEYSTONES if n in new or n in remove]
    for name in keys:
        if name in remove or os.path.lexists(os.path.join(staged, name)):
            aside(name)
    for name in remove:
        aside(name)
    for name in [n for n in new if n not in keys] + [n for n in reversed(keys) if n in new]:
        put(name)  # config.json last: once it is back, every other file is in place
    _fsync(folder)
    os.remove(os.path.join(staging, JOURNAL))
    remove_tree(staging)


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def remove_tree(path: str) -> None:
    if _is_dir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def interrupted(folder: str, staging: str, why: str) -> InterruptedWriteError:
    return InterruptedWriteError(
        f"{folder}: a write into this folder was interrupted while moving its files in "
        f"({os.path.basename(staging)}) and {why}; the folder may mix old and new files. Rerun the command that "
        f"wrote it (a save or convert into {folder}), or run bert_core.files.check_folder({folder!r}) with write "
        "access to complete the interrupted write.")


def recover(folder: str) -> None:
    """With the folder locked: finish decided writes, remove the leftovers of undecided ones."""
    for name in _stagings(folder):
        staging = os.path.join(folder, name)
        if is_decided(staging):
            try:
                roll_forward(folder, staging)
            except InterruptedWriteError:
                raise
            except OSError as e:
                raise interrupted(folder, staging, f"completing it failed ({e})") from None
            logger.warning("%s: completed an earlier write that was interrupted while committing (%s)", folder, name)
        else:
            remove_tree(staging)
            logger.info("%s: removed %s, left by an interrupted write", folder, name)
    for name in os.listdir(folder):
        if _LEGACY_SWAP.match(name) and _is_dir(os.path.join(folder, name)):
            remove_tree(os.path.join(folder, name))
    parent, base = os.path.split(folder)
    legacy = re.compile(re.escape(f".{base}.") + r"[a-z0-9_]{8}\.tmp$")  # bertzoo <= 0.1.0 staged in the parent
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            if legacy.match(name) and _is_dir(os.path.join(parent, name)):
                remove_tree(os.path.join(parent, name))


def check(folder: str, timeout: float) -> None:
    """Reader side: see ``bert_core.files.check_folder``."""
    stagings = _stagings(folder)
    if not stagings:
        return
    decided = any(is_decided(os.path.join(folder, n)) for n in stagings)
    try:
        with locked(folder, timeout if decided else 0.0):
            recover(folder)
    except FolderBusyError:
        if decided:
            raise FolderBusyError(f"{folder}: another process is committing a write into this folder and did "
                                  f"not finish within {timeout:g} s{_writers(folder)}. Retry when it has finished."
                                  ) from None
        # a live writer is still staging its files: the folder itself holds the complete old ones
