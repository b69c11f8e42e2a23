"""Atomic outputs: a file (or folder) appears under its final name only once it is
complete.

Everything a command writes for later use (``model.keras``, checkpoints, ``metrics.json``,
``config.json``, reports, exports) is written to a temporary name beside it and renamed
over the final name when the write has succeeded (``os.replace``, atomic on one file
system). A killed or failed write leaves at most a ``.<name>.partial-<pid>`` file, which
:func:`remove_partials` clears on the next run; the old file, if there was one, stays as
it was. A full disk is a :class:`DiskFullError` naming the folder, the space left and the
bytes the write needs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil

PARTIAL = ".partial-"


class DiskFullError(OSError):
    """No space left on the device while writing an output (``errno.ENOSPC``)."""


def _suffix(name: str) -> str:
    """The suffixes a writer may insist on (``.weights.h5``, ``.keras``, ``.json``)."""
    stem, dot, rest = name.partition(".")
    return dot + rest if stem else ""


def partial_path(path) -> str:
    """The temporary name beside ``path``: ``DIR/.<stem>.partial-<pid><suffixes>``."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    suffix = _suffix(name)
    stem = name[:len(name) - len(suffix)] if suffix else name
    return os.path.join(folder, f".{stem}{PARTIAL}{os.getpid()}{suffix}")


def size_of(path) -> int:
    """Bytes of a file, or of every file under a folder (0 when ``path`` does not exist)."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, f))
                   for root, _, files in os.walk(path) for f in files)
    return os.path.getsize(path) if os.path.exists(path) else 0


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def disk_full(error, path, needed=None, at_least=False) -> DiskFullError:
    """A :class:`DiskFullError` for ``error`` (an ``ENOSPC`` ``OSError``) while writing
    ``path``: names the folder, the bytes free there and, when known, the bytes needed
    (``at_least``: only a lower bound is known, what was written before the disk filled).
    The file is named with its folder (``m/1``, a SavedModel's version folder)."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
    shown = os.path.join(os.path.basename(folder), name)
    amount = f"more than {needed:,}" if at_least else f"about {needed:,}"
    need = f"; writing {shown} needs {amount} bytes" if needed and name else ""
    return DiskFullError(errno.ENOSPC, f"no space left in {folder} ({free:,} bytes free{need}). "
                                       "Free some space and run the same command again: "
                                       "the complete files are kept, and a training "
                                       "resumes from its last finished epoch")


def is_disk_full(error) -> bool:
    """Whether ``error`` (any exception) is, or was caused by, a full disk."""
    while error is not None:             # TensorFlow's and h5py's own errors say it in words
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def disk_full_as_error(folder):
    """Re-raise a full disk met anywhere in the block (TensorFlow's writers, h5py) as a
    :class:`DiskFullError` naming ``folder``."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise disk_full(error, os.path.join(os.fspath(folder), "")) from error
        raise


@contextlib.contextmanager
def atomic_path(path, needed=None):
    """Write to the yielded temporary path; it becomes ``path`` when the block succeeds.

    Parameters
    ----------
    path : path
        The final file or folder. An existing one is replaced only when the new one is
        complete.
    needed : int or None, default None
        The bytes the write needs, for the message of a full disk; ``None``: more than
        what was written before the disk filled, or about the size of the file it replaces.

    Raises
    ------
    DiskFullError
        The disk filled during the block; nothing is left under ``path`` or the temporary
        name.
    """
    path = os.fspath(path)
    temporary = partial_path(path)
    _remove(temporary)
    try:
        yield temporary
        if os.path.isdir(temporary) and os.path.isdir(path):   # a folder: swap it in
            old = partial_path(path) + ".old"
            os.replace(path, old)
            os.replace(temporary, path)
            _remove(old)
        else:
            os.replace(temporary, path)
    except BaseException as error:
        written = size_of(temporary)
        _remove(temporary)
        if is_disk_full(error):
            if needed is None and not written:      # the size of the file it replaces
                needed = size_of(path)
            elif needed is None:
                raise disk_full(error, path, written, at_least=True) from error
            raise disk_full(error, path, needed) from error
        if isinstance(error, OSError) and (error.filename == path or
                                           str(error.filename).startswith(temporary)):
            # the user's path, not the temporary one, in the one-line message
            raise type(error)(error.errno, error.strerror, path) from error
        raise


def write_bytes(path, content: bytes):
    """``content`` to ``path``, atomically."""
    with atomic_path(path, needed=len(content)) as temporary, open(temporary, "wb") as f:
        f.write(content)


def write_text(path, text: str):
    """``text`` to ``path`` (UTF-8), atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, values, default=str):
    """``values`` as indented JSON with a final newline, atomically; ``default`` turns what
    JSON cannot hold (numpy scalars, paths) into something it can."""
    write_text(path, json.dumps(values, indent=2, default=default) + "\n")


def remove_partials(folder):
    """Remove what killed writes left in ``folder`` and its sub-folders (``.*.partial-*``)."""
    for root, folders, files in os.walk(folder):
        for entry in [*folders, *files]:
            if entry.startswith(".") and PARTIAL in entry:
                _remove(os.path.join(root, entry))
        folders[:] = [f for f in folders if PARTIAL not in f]
