"""Leakage between splits: one observation in more than one split.

A manifest that lists a file under train and under test, or the same recording under two
names, would train on what it is tested on and report an accuracy without a word. Every
training therefore compares its splits' observations by path and by content before it
starts: an observation's content is a BLAKE2b digest of all the inputs of the groups the
model reads (a file's bytes, an array's dtype, shape and bytes), so two observations are
the same when every one of their inputs is. Observations that share one input but not
another (AV-digits' images, paired with other recordings) are not duplicates.

File digests are kept for the life of the process, keyed by path, size and modification
time, so the folds of a cross-validation hash every file once.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import numpy as np

from minape_tf.data.errors import DataError

_CHUNK = 1 << 20
_FILE_DIGESTS: dict = {}


class Duplicate(NamedTuple):
    """One observation found in more than one split: ``where`` maps each split to the
    observations' descriptions there (their files, or ids for in-memory inputs);
    ``same_path`` says whether they are the same files, not only the same content."""

    where: dict
    same_path: bool

    def describe(self) -> str:
        kind = "the same file(s)" if self.same_path else "the same content"
        sides = "; ".join(f"{split}: {', '.join(items[:3])}"
                          + (f" (+{len(items) - 3})" if len(items) > 3 else "")
                          for split, items in self.where.items())
        return f"{kind} in {' and '.join(self.where)} ({sides})"


def file_digest(path) -> str:
    """BLAKE2b digest of a file's bytes (remembered while the file is unchanged)."""
    path = os.fspath(path)
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        _FILE_DIGESTS[key] = h.hexdigest()
    return _FILE_DIGESTS[key]


def _item_digest(item) -> str:
    if isinstance(item, np.ndarray):
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{item.dtype.str}{item.shape}".encode())
        h.update(np.ascontiguousarray(item).tobytes())
        return h.hexdigest()
    return file_digest(item)


def _describe(source, i, names) -> str:
    files = [str(item) for name in names for item in source.inputs[name][i]
             if not isinstance(item, np.ndarray)]
    return " + ".join(files) if files else f"observation {source.ids[i]!r}"


def find_duplicates(source, splits, groups=None) -> list:
    """The observations that are in more than one of ``splits`` (by path or by content).

    Parameters
    ----------
    source : Source
    splits : dict of str to array of int
        Split name -> indices into ``source``.
    groups : list of groups or None, default None
        The groups whose inputs make an observation; ``None``: all of ``source``'s.

    Returns
    -------
    list of Duplicate
    """
    names = sorted(source.inputs) if groups is None else [g.name for g in groups]
    by_content = {}
    for split, index in splits.items():
        for i in np.asarray(index, dtype=np.int64):
            items = [item for name in names for item in source.inputs[name][i]]
            key = tuple(_item_digest(item) for item in items)
            paths = tuple(None if isinstance(item, np.ndarray) else os.path.realpath(item)
                          for item in items)
            by_content.setdefault(key, []).append((split, int(i), paths))
    found = []
    for members in by_content.values():
        if len({split for split, _, _ in members}) < 2:
            continue
        where = {}
        for split, i, _ in members:
            where.setdefault(split, []).append(_describe(source, i, names))
        paths = {p for _, _, p in members}
        same_path = len(paths) == 1 and None not in next(iter(paths))
        found.append(Duplicate(where, same_path))
    return found


def check_duplicates(source, splits, groups=None, *, allow=False, where="data") -> list:
    """:func:`find_duplicates`, refused unless ``allow``.

    Returns
    -------
    list of str
        One description per duplicate (empty when there is none); only when ``allow``.

    Raises
    ------
    DataError
        An observation is in more than one split and ``allow`` is false; the message names
        the files and the splits.
    """
    found = [d.describe() for d in find_duplicates(source, splits, groups)]
    if found and not allow:
        listed = "\n  ".join(found[:10]) + (f"\n  ... and {len(found) - 10} more"
                                            if len(found) > 10 else "")
        raise DataError(f"{where}: {len(found)} observation(s) in more than one split, so "
                        f"the model would be tested on what it trained on:\n  {listed}\n"
                        "Remove the copies, or pass allow_duplicates=True to go on (they "
                        "are then counted in the report)", [(d, "in more than one split")
                                                            for d in found])
    return found
