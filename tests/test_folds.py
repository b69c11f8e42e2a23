"""Fold assignment and the paper's K-fold rotation (80 / 10 / 10 for K = 10)."""

import numpy as np
import pytest

from minape_tf.protocol.folds import assign_folds, leave_one_group_out, rotation, trial_seeds


def _labels(n=200, classes=3, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n)


def _check_rotation(splits, n, k):
    tested = np.zeros(n, int)
    for i, split in enumerate(splits):
        parts = [set(split[name].tolist()) for name in ("train", "val", "test")]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) \
            and not (parts[1] & parts[2]), "splits overlap"
        assert set().union(*parts) == set(range(n)), "splits do not cover the data"
        np.testing.assert_array_equal(split["val"], splits[(i + 1) % k]["test"])
        tested[split["test"]] += 1
    np.testing.assert_array_equal(tested, 1)   # every observation tested exactly once


def test_stratified_rotation_is_80_10_10():
    y = _labels(200)
    folds = assign_folds(y, 10, seed=3)
    splits = rotation(folds, 10)
    _check_rotation(splits, len(y), 10)
    for split in splits:
        assert len(split["test"]) == 20 and len(split["val"]) == 20
        assert len(split["train"]) == 160
    for c in np.unique(y):                      # each class spread evenly over the folds
        per_fold = np.bincount(folds[y == c], minlength=10)
        assert per_fold.max() - per_fold.min() <= 1


def test_seed_fixes_the_folds():
    y = _labels(100)
    np.testing.assert_array_equal(assign_folds(y, 5, seed=1), assign_folds(y, 5, seed=1))
    assert not np.array_equal(assign_folds(y, 5, seed=1), assign_folds(y, 5, seed=2))
    seeds = trial_seeds(0, 5)
    assert len(set(seeds)) == 5 and seeds == trial_seeds(0, 5)


def test_group_aware_folds_keep_groups_together():
    rng = np.random.default_rng(0)
    groups = np.array([f"tool{t}" for t in rng.integers(0, 13, 300)])
    y = rng.integers(0, 3, 300)
    folds = assign_folds(y, 5, seed=0, groups=groups)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1, f"{g} crosses folds"
    assert len(np.unique(folds)) == 5            # no empty fold
    splits = rotation(folds, 5)
    _check_rotation(splits, len(y), 5)
    for split in splits:
        keys = [set(groups[split[name]]) for name in ("train", "val", "test")]
        assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_group_aware_with_as_many_groups_as_folds():
    groups = np.repeat(["a", "b", "c"], [50, 5, 20])
    folds = assign_folds(np.zeros(75, int), 3, seed=0, groups=groups)
    assert sorted(np.unique(folds)) == [0, 1, 2]


def test_bad_requests_are_clear_errors():
    with pytest.raises(ValueError, match="at least 3 folds"):
        assign_folds(_labels(20), 2)
    with pytest.raises(ValueError, match="5 groups .* cannot fill 10 folds"):
        assign_folds(_labels(50), 10, groups=np.repeat(list("abcde"), 10))


def test_leave_one_group_out_tests_every_group_once():
    rng = np.random.default_rng(1)
    groups = np.array([f"speaker{s}" for s in rng.integers(0, 5, 300)])
    y = rng.integers(0, 4, 300)
    splits = leave_one_group_out(y, groups, seed=0)
    assert [s["group"] for s in splits] == sorted(set(groups))   # one fold per group
    tested = np.zeros(len(y), int)
    for split in splits:
        keys = {name: set(groups[split[name]]) for name in ("train", "val", "test")}
        assert keys["test"] == {split["group"]}
        assert split["group"] not in keys["train"] | keys["val"]   # never on both sides
        assert keys["val"] <= keys["train"]                        # val: training groups
        index = [set(split[name].tolist()) for name in ("train", "val", "test")]
        assert not (index[0] & index[1]) and set().union(*index) == set(range(len(y)))
        rest = len(y) - len(split["test"])
        assert 0.05 * rest <= len(split["val"]) <= 0.2 * rest
        tested[split["test"]] += 1
    np.testing.assert_array_equal(tested, 1)   # every observation tested exactly once
    same = leave_one_group_out(y, groups, seed=0)
    assert all(np.array_equal(a["val"], b["val"]) for a, b in zip(splits, same))
    other = leave_one_group_out(y, groups, seed=1)
    assert not all(np.array_equal(a["val"], b["val"]) for a, b in zip(splits, other))


def test_leave_one_group_out_needs_two_groups():
    with pytest.raises(ValueError, match="1 group.*need at least two"):
        leave_one_group_out(_labels(20), np.repeat("a", 20))
    with pytest.raises(ValueError, match="19 group keys for 20"):
        leave_one_group_out(_labels(20), np.repeat("a", 19))
