"""One process per output folder.

``train``, ``cv``, ``tune``, ``adapt`` and ``export`` hold a lock on their output folder
while they write it (``DIR/.minape.lock``, an OS file lock through ``filelock``): a second
process that wants the same folder is refused at once with :class:`FolderInUse`, naming
the holder (PID, host, command, start time, from ``DIR/.minape.lock.json``). The operating
system releases the lock of a process that dies, so a folder whose holder was killed is
taken over; the holder file it left says who that was, and the taking over is said.

Within one process the lock is re-entrant: ``train_and_evaluate`` holds it around ``train``,
which takes it again. Released, it removes its files; a folder that the lock made and that
nothing was written into is removed too (a refused command leaves no empty folder).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import socket
import sys
import time

from filelock import FileLock, Timeout

from minape_tf.outputs.atomic import remove_partials, write_json

LOCK_FILE = ".minape.lock"
HOLDER_FILE = ".minape.lock.json"
LOCK_FILES = (LOCK_FILE, HOLDER_FILE)     # what a folder's contents leave out
_HELD: dict = {}          # folder (real path) -> how many times this process holds it


class FolderInUse(RuntimeError):
    """Another process holds the output folder's lock."""


def _command() -> str:
    """This process's command line, its program by name (``python -m pkg``: ``pkg``)."""
    program = sys.argv[0] if sys.argv else "python"
    name = os.path.basename(program)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(program))
    line = " ".join([name, *sys.argv[1:]])
    return line if len(line) <= 160 else line[:157] + "..."


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _describe(holder: dict) -> str:
    return (f"PID {holder.get('pid', '?')} on {holder.get('host', '?')} "
            f"(`{holder.get('command', '?')}`, started {holder.get('started', '?')})")


def _read_holder(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def locked(folder, log=print):
    """Hold ``folder``'s lock for the block (making the folder if needed).

    Parameters
    ----------
    folder : path
    log : callable, default print
        Where the line about taking over a dead process's lock goes.

    Raises
    ------
    FolderInUse
        Another running process holds the lock; the message names it.
    """
    folder = os.fspath(folder)
    key = os.path.realpath(folder)
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    lock = FileLock(os.path.join(folder, LOCK_FILE), timeout=0)
    holder_path = os.path.join(folder, HOLDER_FILE)
    try:
        lock.acquire()
    except Timeout:
        holder = _read_holder(holder_path) or {}
        raise FolderInUse(f"{folder} is in use by {_describe(holder)}; wait for it to "
                          "finish, or choose another folder") from None
    try:
        stale = _read_holder(holder_path)
        if stale:
            log(f"{folder}: taking over the lock of {_describe(stale)}, which ended without "
                "releasing it")
        remove_partials(folder)
        write_json(holder_path, _holder())
        _HELD[key] = 1
        yield
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.remove(holder_path)
        lock.release()
        with contextlib.suppress(OSError):   # the lock leaves no file behind
            os.remove(os.path.join(folder, LOCK_FILE))
        if created:
            with contextlib.suppress(OSError):
                if not os.listdir(folder):
                    os.rmdir(folder)


def contents(folder) -> list:
    """The entries of ``folder`` other than its lock's files."""
    return [entry for entry in os.listdir(folder) if entry not in LOCK_FILES]


def holds_lock(parameter="out_dir", when=None):
    """Decorate a function that writes the folder its argument ``parameter`` names: each
    call holds that folder's lock (:func:`locked`; its ``log`` argument, if it has one,
    gets the taking-over line). ``when(arguments)``, given the call's bound arguments,
    says whether this call needs the lock (e.g. not for a ``.keras`` file)."""
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            if when is not None and not when(bound.arguments):
                return function(*args, **kwargs)
            with locked(bound.arguments[parameter], log=bound.arguments.get("log", print)):
                return function(*args, **kwargs)
        return call
    return decorate
