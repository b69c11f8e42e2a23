"""Fold assignment and the paper's rotation (Section 4.2: 10-fold, 80 / 10 / 10).

``assign_folds`` puts every observation in one of ``K`` folds with scikit-learn's
``StratifiedKFold`` (stratified by class), or ``StratifiedGroupKFold`` (group-aware: a tool,
a speaker, a manifest's ``group`` column never spans two folds, while classes stay as
balanced as the groups allow), shuffled by the seed. ``rotation``, which scikit-learn
lacks, turns the folds into K (train, val, test) splits: split ``k`` tests on fold ``k``,
validates on fold ``k + 1`` (mod K) and trains on the other ``K - 2``; every observation is
tested exactly once.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold


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
        The seed seeds the shuffling of the data (stratified) or of the groups (grouped)
        that both splitters do before dealing the folds.

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
    if groups is None:
        if n < n_folds:
            raise ValueError(f"{n} observations cannot fill {n_folds} folds")
        splitter, keys = StratifiedKFold(n_folds, shuffle=True, random_state=seed), None
    else:
        keys = np.asarray(groups).astype(str)
        if len(keys) != n:
            raise ValueError(f"{len(keys)} group keys for {n} observations")
        unique = np.unique(keys)
        if len(unique) < n_folds:
            raise ValueError(
                f"group-aware folds: {len(unique)} groups ({', '.join(unique[:10])}) cannot "
                f"fill {n_folds} folds without a group crossing folds; use --folds "
                f"{len(unique)} or fewer, or plain stratified folds")
        splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    folds = np.empty(n, np.int64)
    with warnings.catch_warnings():     # a class rarer than K: spread as far as it goes
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        for k, (_, test) in enumerate(splitter.split(np.zeros(n), labels, keys)):
            folds[test] = k
    empty = sorted(set(range(n_folds)) - set(folds.tolist()))
    if empty:
        raise ValueError(f"group-aware folds: folds {empty} got no group; use fewer folds")
    return folds


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
