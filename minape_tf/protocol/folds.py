"""Fold assignment and the paper's rotation (Section 4.2: 10-fold, 80 / 10 / 10).

``assign_folds`` puts every observation in one of ``K`` folds with scikit-learn's
``StratifiedKFold`` (stratified by class), or ``StratifiedGroupKFold`` (group-aware: a tool,
a speaker, a manifest's ``group`` column never spans two folds, while classes stay as
balanced as the groups allow), shuffled by the seed. ``rotation``, which scikit-learn
lacks, turns the folds into K (train, val, test) splits: split ``k`` tests on fold ``k``,
validates on fold ``k + 1`` (mod K) and trains on the other ``K - 2``; every observation is
tested exactly once.

``leave_one_group_out`` makes one (train, val, test) split per group with scikit-learn's
``LeaveOneGroupOut``: the group (a speaker, a tool, a manifest ``group``) is the test set,
the other groups train, and validation is a ``val_fraction`` of the training groups' own
observations (see its docstring for why not a whole group).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from minape_tf.data.source import stratified_holdout

# The share of the training groups' observations that validates in leave-one-group-out.
VAL_FRACTION = 0.1


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
                f"fill {n_folds} folds without a group crossing folds; use folds="
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


def leave_one_group_out(labels, groups, seed: int = 0, val_fraction: float = VAL_FRACTION):
    """One (train, val, test) split per group: the group tests, the others train.

    Validation is drawn from the training groups: a deterministic ``val_fraction`` of every
    (class, group) stratum of their observations (at least one of each stratum with two or
    more), so that every training group and class is in it and none of the test group is.
    A whole group held out for validation instead would leave one group fewer to learn
    from (with FSDD's five speakers, three instead of four) and make the best epoch depend
    on which speaker it happened to be; the price of this choice is that the best epoch is
    chosen on speakers the model has seen, so the validation accuracy is optimistic, while
    the test accuracy stays that of an unseen group.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Class of each observation; validation is stratified by it.
    groups : array, shape (n,)
        The group of each observation (speaker, tool, manifest ``group``).
    seed : int, default 0
        Fixes the validation draw.
    val_fraction : float, default 0.1
        Share of each training (class, group) stratum that validates.

    Returns
    -------
    list of dict
        One per group in sorted order: ``{"group", "train", "val", "test"}``, the last three
        sorted index arrays; every observation is tested exactly once.

    Raises
    ------
    ValueError
        If the keys do not match the labels, or there are fewer than two groups.
    """
    labels = np.asarray(labels)
    keys = np.asarray(groups).astype(str)
    if len(keys) != len(labels):
        raise ValueError(f"{len(keys)} group keys for {len(labels)} observations")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}; expected a share in (0, 1)")
    unique = np.unique(keys)
    if len(unique) < 2:
        raise ValueError(f"leave-one-group-out: {len(unique)} group(s) "
                         f"({', '.join(unique[:10])}); need at least two, one to test and "
                         "one to train on")
    splits = []
    for rest, test in LeaveOneGroupOut().split(np.zeros(len(labels)), labels, keys):
        strata = np.char.add(np.char.add(labels[rest].astype(str), "_"), keys[rest])
        val = rest[stratified_holdout(strata, val_fraction, seed)]
        splits.append({"group": str(keys[test[0]]), "train": np.setdiff1d(rest, val),
                       "val": val, "test": test})
    return splits


def trial_seeds(seed: int, trials: int) -> list:
    """Seeds of ``trials`` independent trials: each fixes a new fold assignment,
    initialisation and shuffling."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(trials)]
