"""Classification metrics from predicted probabilities, in plain numpy.

They match scikit-learn's ``accuracy_score``, ``roc_auc_score(multi_class="ovr",
average="macro")``, ``f1_score(average="macro")``, ``precision_score`` / ``recall_score``
(``average=None``) and ``confusion_matrix`` (the tests check this), with one convention for
degenerate cases: a class that never occurs in ``y_true`` has no ROC curve and is left out
of the macro AUC (``nan`` when fewer than two classes occur); precision or recall with a
zero denominator is 0.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of observations of class ``i`` predicted as class ``j``."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def precision_recall_f1(matrix: np.ndarray):
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined)."""
    tp = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(0).astype(float), matrix.sum(1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1


def binary_auc(positive, scores) -> float:
    """Area under the ROC curve of ``scores`` for the boolean ``positive`` (Mann-Whitney U,
    ties count one half); ``nan`` when only one kind occurs."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values):
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), float)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def roc_curve(positive, scores):
    """False- and true-positive rates at every threshold (for plotting), from (0, 0)."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(scores, float), kind="mergesort")
    scores_sorted, hits = np.asarray(scores, float)[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores_sorted)), len(hits) - 1]
    tps, fps = np.cumsum(hits)[last], np.cumsum(~hits)[last]
    tpr = np.r_[0.0, tps / max(positive.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~positive).sum(), 1)]
    return fpr, tpr


def classification_metrics(y_true, probabilities, classes) -> dict:
    """All the classification numbers of a ``metrics.json``.

    Parameters
    ----------
    y_true : array of int, shape (n,)
        True class indices.
    probabilities : array, shape (n, num_classes)
        Predicted class probabilities (the model's softmax).
    classes : list of str
        Class names, index order.

    Returns
    -------
    dict
        ``accuracy``, ``auc_macro`` (one-vs-rest), ``f1_macro``, ``per_class`` (name ->
        precision, recall, f1, support, auc), ``confusion_matrix`` (list of rows), ``n_test``.
    """
    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities, float)
    num_classes = len(classes)
    if probabilities.shape != (len(y_true), num_classes):
        raise ValueError(f"probabilities have shape {probabilities.shape}; expected "
                         f"({len(y_true)}, {num_classes}) for {len(y_true)} labels and "
                         f"{num_classes} classes")
    y_pred = probabilities.argmax(1)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    precision, recall, f1 = precision_recall_f1(matrix)
    aucs = [binary_auc(y_true == c, probabilities[:, c]) for c in range(num_classes)]
    present = [a for a in aucs if not np.isnan(a)]
    return {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else float("nan"),
        "auc_macro": float(np.mean(present)) if len(present) >= 2 else float("nan"),
        # as scikit-learn's default: over the classes that occur in the labels or predictions
        "f1_macro": float(f1[(matrix.sum(0) + matrix.sum(1)) > 0].mean()) if len(y_true)
        else float("nan"),
        "per_class": {
            name: {"precision": float(precision[c]), "recall": float(recall[c]),
                   "f1": float(f1[c]), "support": int(matrix[c].sum()), "auc": aucs[c]}
            for c, name in enumerate(classes)},
        "confusion_matrix": matrix.tolist(),
        "n_test": int(len(y_true)),
    }
