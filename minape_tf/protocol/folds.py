"""Fold assignment and the paper's rotation (Section 4.2: 10-fold, 80 / 10 / 10).

``assign_folds`` puts every observation in one of ``K`` folds, stratified by class, or
group-aware (a tool, a speaker, a manifest's ``group`` column never spans two folds, while
classes stay as balanced as the groups allow). ``rotation`` turns the folds into K
(train, val, test) splits: split ``k`` tests on fold ``k``, validates on fold ``k + 1``
(mod K) and trains on the other ``K - 2``; every observation is tested exactly once.
"""

from __future__ import annotations

import numpy as np


def assign_folds(labels, n_folds: int, seed: int = 0, groups=None) -> np.ndarray:
    """A fold number in ``range(n_folds)`` for each observation.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Class of each observation; folds are stratified by it.
    n_folds : int
        Folds (K). At least 3 (test, validation and training each need one).
    seed : int, default 0
        Fixes the assignment.
    groups : array or None, default None
        A key per observation that must not cross folds; ``None`` for plain stratified folds.

    Raises
    ------
    ValueError
        If ``n_folds < 3``, there are fewer observations than folds, or (group-aware) fewer
        groups than folds.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 3:
        raise ValueError(f"n_folds={n_folds!r}: need at least 3 folds (test, validation, "
                         "training)")
    rng = np.random.default_rng(seed)
    if groups is None:
        if n < n_folds:
            raise ValueError(f"{n} observations cannot fill {n_folds} folds")
        return _stratified(labels, n_folds, rng)
    groups = np.asarray(groups).astype(str)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group keys for {n} observations")
    unique = np.unique(groups)
    if len(unique) < n_folds:
        raise ValueError(
            f"group-aware folds: {len(unique)} groups ({', '.join(unique[:10])}) cannot fill "
            f"{n_folds} folds without a group crossing folds; use --folds {len(unique)} or "
            "fewer, or plain stratified folds")
    return _grouped(labels, groups, unique, n_folds, rng)


def _stratified(labels, n_folds, rng):
    """Deal each class's shuffled members round-robin, starting where the last class ended,
    so fold sizes differ by at most one and each class is spread evenly."""
    folds = np.empty(len(labels), np.int64)
    start = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        folds[members] = (start + np.arange(len(members))) % n_folds
        start = (start + len(members)) % n_folds
    return folds


def _grouped(labels, groups, unique, n_folds, rng):
    """Greedy: groups in random order, largest first, each into the fold whose class counts
    stay closest to the fold's share of the whole (ties: the smallest fold)."""
    classes = np.unique(labels)
    counts = np.stack([np.bincount(np.searchsorted(classes, labels[groups == g]),
                                   minlength=len(classes)) for g in unique])
    target = counts.sum(0) / n_folds
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]
    fold_counts = np.zeros((n_folds, len(classes)))
    group_fold = np.empty(len(unique), np.int64)
    for g in order:
        cost = ((fold_counts + counts[g] - target) ** 2).sum(1) \
            - ((fold_counts - target) ** 2).sum(1) + 1e-9 * fold_counts.sum(1)
        best = int(np.argmin(cost))
        group_fold[g] = best
        fold_counts[best] += counts[g]
    _fill_empty_folds(group_fold, counts, n_folds)
    return group_fold[np.searchsorted(unique, groups)]


def _fill_empty_folds(group_fold, counts, n_folds):
    """Until no fold is empty, move the smallest group of a fold holding several into one."""
    sizes = counts.sum(1)
    while True:
        used = np.bincount(group_fold, minlength=n_folds)
        empty = np.flatnonzero(used == 0)
        if not len(empty):
            return
        movable = np.flatnonzero(used[group_fold] > 1)
        smallest = movable[np.argmin(sizes[movable])]
        group_fold[smallest] = empty[0]


def rotation(folds, n_folds: int | None = None):
    """The K (train, val, test) index splits of the rotation.

    Returns
    -------
    list of dict
        Split ``k``: ``{"train", "val", "test"}`` -> sorted index arrays; ``test`` is fold
        ``k``, ``val`` fold ``(k + 1) % K``, ``train`` the rest.
    """
    folds = np.asarray(folds)
    n_folds = int(folds.max()) + 1 if n_folds is None else n_folds
    splits = []
    for k in range(n_folds):
        val_fold = (k + 1) % n_folds
        splits.append({
            "train": np.flatnonzero((folds != k) & (folds != val_fold)),
            "val": np.flatnonzero(folds == val_fold),
            "test": np.flatnonzero(folds == k),
        })
    return splits


def trial_seeds(seed: int, trials: int) -> list:
    """Seeds of ``trials`` independent trials: each fixes a new fold assignment,
    initialisation and shuffling."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(trials)]
