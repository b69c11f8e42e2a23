"""Our use of scikit-learn's metrics, its conventions for subsets, and the plots."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn import metrics as skm

from minape_tf.evaluation.metrics import class_auc, classification_metrics, per_group_accuracy
from minape_tf.evaluation.plots import plot_confusion, plot_history, plot_roc


def _predictions(n=300, classes=4, seed=0, quantise=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if quantise:                     # many tied scores
        p = np.round(p * quantise) / quantise + 1e-3
        p = p / p.sum(1, keepdims=True)
    return y, p


@pytest.mark.parametrize("quantise", [None, 10])
def test_matches_scikit_learn(quantise):
    y, p = _predictions(quantise=quantise)
    classes = ["a", "b", "c", "d"]
    labels = list(range(4))
    ours = classification_metrics(y, p, classes)
    pred = p.argmax(1)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert ours["auc_macro"] == pytest.approx(
        skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert ours["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    precision = skm.precision_score(y, pred, average=None, labels=labels, zero_division=0)
    recall = skm.recall_score(y, pred, average=None, labels=labels, zero_division=0)
    for c, name in enumerate(classes):
        assert ours["per_class"][name]["precision"] == pytest.approx(precision[c])
        assert ours["per_class"][name]["recall"] == pytest.approx(recall[c])
        assert ours["per_class"][name]["auc"] == pytest.approx(
            skm.roc_auc_score(y == c, p[:, c]))
    np.testing.assert_array_equal(ours["confusion_matrix"],
                                  skm.confusion_matrix(y, pred, labels=labels))
    assert ours["n_test"] == len(y)


def test_plots_are_written_without_pyplot_figures(tmp_path):
    """The plots are drawn on Figure objects: a notebook's pyplot state is left alone."""
    y, p = _predictions()
    metrics = classification_metrics(y, p, ["a", "b", "c", "d"])
    before = plt.get_fignums()
    plot_roc(y, p, ["a", "b", "c", "d"], tmp_path / "roc.png")
    plot_confusion(metrics["confusion_matrix"], ["a", "b", "c", "d"], tmp_path / "cm.png")
    rows = [{"epoch": 0, "loss": 1.0, "val_loss": 1.2}, {"epoch": 1, "loss": 0.5,
                                                           "val_loss": None}]
    assert plot_history(rows, tmp_path / "curves.png")
    assert not plot_history([], tmp_path / "none.png")
    assert plt.get_fignums() == before
    for name in ("roc.png", "cm.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "none.png").exists()


def test_degenerate_cases():
    # a class never predicted: precision 0, not an error; a class absent from y_true has no
    # AUC and is left out of the macro average
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.8, 0.2, 0.0]])
    m = classification_metrics(y, p, ["x", "y", "z"])
    assert m["per_class"]["z"]["precision"] == 0 and np.isnan(m["per_class"]["z"]["auc"])
    assert m["auc_macro"] == pytest.approx(skm.roc_auc_score(y == 1, p[:, 1]))
    assert np.isnan(class_auc(np.ones(3, bool), [0.1, 0.2, 0.3]))
    two = classification_metrics([0, 2], np.array([[0.1, 0.2, 0.7], [0.2, 0.1, 0.7]]),
                                 ["x", "y", "z"])
    np.testing.assert_array_equal(two["confusion_matrix"], [[0, 0, 1], [0, 0, 0], [0, 0, 1]])


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="expected \\(2, 3\\)"):
        classification_metrics([0, 1], np.ones((2, 2)) / 2, ["a", "b", "c"])


def test_macro_scores_leave_out_classes_absent_from_a_subset():
    """An evaluation subset (e.g. ``--match``) may hold only some classes: macro F1 then
    averages over the classes that occur, as scikit-learn's default does."""
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    ours = classification_metrics(y, p, ["a", "b", "c"])
    assert ours["f1_macro"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))
    assert ours["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_per_group_accuracy():
    y_true = np.array([0, 1, 1, 0, 2, 2])
    y_pred = np.array([0, 1, 0, 0, 2, 1])
    groups = np.array(["theo", "theo", "theo", "lucas", "lucas", "george"])
    assert per_group_accuracy(y_true, y_pred, groups) == {
        "george": {"accuracy": 0.0, "n": 1}, "lucas": {"accuracy": 1.0, "n": 2},
        "theo": {"accuracy": 2 / 3, "n": 3}}
    with pytest.raises(ValueError, match="5 group keys for 6 labels"):
        per_group_accuracy(y_true, y_pred, groups[:5])
