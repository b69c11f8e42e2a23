"""Which folders a command may write into: a new or empty one, or one the same command
wrote, known by its marker file (a run folder's ``config.json``, an export folder's
``export.json``, ``cv.json``, ``tune.json``, an evaluation's ``metrics.json``). Any other
folder is refused before any work, naming what is in it, ``overwrite`` or not; a path that
is a file where a folder is wanted is refused too. Inside a folder of its own, a command
replaces only the files it writes.
"""

from __future__ import annotations

import os

from minape_tf.outputs.atomic import PARTIAL
from minape_tf.outputs.lock import contents

# marker file -> what a folder holding it is
MARKERS = {"config.json": "a run folder", "export.json": "an export folder",
           "cv.json": "a cross-validation folder", "tune.json": "a search folder",
           "metrics.json": "an evaluation folder"}


def entries(folder) -> list:
    """The entries of ``folder`` other than its lock's files and unfinished writes."""
    return sorted(e for e in contents(folder) if PARTIAL not in e)


def _listed(names, most=6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def claim(path, marker, *, unfinished=None) -> str:
    """Whether a command whose folders hold ``marker`` may write into ``path``: "new",
    "empty", "ours" (it holds ``marker``) or "unfinished" (every entry passes
    ``unfinished(path, entry)``: what a killed run of the command leaves).

    Raises
    ------
    FileExistsError
        ``path`` is a file, or a folder another command wrote, or one holding files no
        command of minape-tf wrote; the message names them. Nothing is written.
    """
    path = os.fspath(path)
    what = MARKERS[marker]
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} is a file, not a folder; {what} is a folder: choose "
                              "another path")
    if not os.path.isdir(path):
        return "new"
    found = entries(path)
    if not found:
        return "empty"
    if marker in found:
        return "ours"
    other = [m for m in MARKERS if m in found]
    if other:
        raise FileExistsError(f"{path} holds {MARKERS[other[0]]} ({other[0]}), not "
                              f"{what}: choose another folder")
    if unfinished is not None and all(unfinished(path, e) for e in found):
        return "unfinished"
    raise FileExistsError(f"{path} holds files minape did not write ({_listed(found)}); "
                          f"{what} goes into a new or empty folder, or one minape wrote "
                          "(with its " + marker + "): choose another folder")
