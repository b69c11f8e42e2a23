"""What a loader returns: the observations (``Source``) and how to split them (``Loaded``).

A :class:`Source` is a table of observations. For each modality group it holds, per
observation, a tuple with one item per input of the group, in channel order; an item is a
file path (``str``) or an in-memory ``numpy`` array (image ``(h, w, c)`` or series
``(samples,)`` / ``(samples, channels)``). ``make_dataset`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


@dataclass
class Source:
    """Observations, their labels and what splits must keep together.

    Parameters
    ----------
    inputs : dict[str, list[tuple]]
        Group name -> one tuple per observation, one item (path or array) per input.
    labels : array of int, shape (n,)
        Class index of each observation, in ``range(len(classes))``.
    classes : list of str
        Class names, index order (other values are turned into strings).
    ids : list of str
        An identifier per observation (file stem, CSV id), used in error messages.
    split_keys : array of str or None
        A key per observation that group-aware splits keep on one side (tool, speaker,
        a manifest's ``group`` column); ``None`` when there is none. It is also the device
        whose history :mod:`minape_tf.data.sequences` follows.
    order : array of numbers or None
        Where each observation lies in its device's history: within one split key, a larger
        value is a later observation (Mudestreda: run, then image number; the demo: the run;
        a manifest's ``order`` column). ``None`` when the data set has no such order.
    skipped : list of (str, str)
        (file or row, reason) for observations left out by ``skip_bad=True``.
    validated : bool, default False
        Set by :func:`minape_tf.data.validate`: the inputs were checked, so
        ``make_dataset`` does not check them again.
    """

    inputs: dict
    labels: np.ndarray
    classes: list
    ids: list
    split_keys: np.ndarray | None = None
    order: np.ndarray | None = None
    skipped: list = field(default_factory=list)
    validated: bool = False

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.classes = [str(c) for c in self.classes]      # names are strings everywhere
        n = len(self.labels)
        for name, items in self.inputs.items():
            if len(items) != n:
                raise ValueError(f"group {name!r} has {len(items)} observations, labels have {n}")
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} observations")
        if self.split_keys is not None:
            self.split_keys = np.asarray(self.split_keys).astype(str)
        if self.order is not None:
            self.order = np.asarray(self.order)
            if self.order.shape != (n,) or not np.issubdtype(self.order.dtype, np.number):
                raise ValueError(f"order: expected {n} numbers, one per observation, got "
                                 f"shape {self.order.shape} of {self.order.dtype}")
        bad = [(i, y) for i, y in zip(self.ids, self.labels) if not 0 <= y < len(self.classes)]
        if bad:
            raise ValueError(f"labels outside the {len(self.classes)} classes {self.classes}: "
                             f"{bad[:5]}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index, groups=None) -> "Source":
        """The observations at ``index`` (array of ints), in that order; with ``groups``
        (group specs), only those groups' inputs."""
        index = np.asarray(index, dtype=np.int64)
        names = None if groups is None else {g.name for g in groups}
        return Source(
            inputs={g: [items[i] for i in index] for g, items in self.inputs.items()
                    if names is None or g in names},
            labels=self.labels[index],
            classes=list(self.classes),
            ids=[self.ids[i] for i in index],
            split_keys=None if self.split_keys is None else self.split_keys[index],
            order=None if self.order is None else self.order[index],
            skipped=list(self.skipped),
            validated=self.validated,
        )


def stratified_holdout(strata, fraction, seed):
    """Deterministic ``fraction`` of each stratum (at least one when it has two or more)."""
    rng = np.random.default_rng(seed)
    strata = np.asarray(strata)
    picked = []
    for key in np.unique(strata):
        idx = np.flatnonzero(strata == key)
        k = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            k = max(k, 1)
        picked.extend(rng.permutation(idx)[:k].tolist())
    return np.sort(np.asarray(picked, dtype=np.int64))


class Loaded(NamedTuple):
    """A loader's result: ``source, groups, splits = loader(...)``.

    ``splits`` maps "train", "val", "test" to arrays of observation indices into ``source``.
    """

    source: Source
    groups: list
    splits: dict
