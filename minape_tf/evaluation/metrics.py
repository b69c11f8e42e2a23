"""Classification metrics from predicted probabilities, by scikit-learn.

``accuracy_score``, ``roc_auc_score`` (one vs rest, per class), ``f1_score(average="macro")``,
``precision_recall_fscore_support`` and ``confusion_matrix``, with one convention
scikit-learn lacks for the subsets an evaluation may hold (``--match``, a new collection
with some of the classes): a class that never occurs in ``y_true`` has no ROC curve and is
left out of the macro AUC (``nan`` when fewer than two classes occur), where
``roc_auc_score(multi_class="ovr")`` would raise; otherwise the macro AUC is scikit-learn's.
Precision or recall with a zero denominator is 0.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

# The headline numbers of an evaluation, in the order the console, report.md and the
# cross-validation's runs.csv show them.
SUMMARY_KEYS = ("accuracy", "accuracy_adapted", "accuracy_self_trained", "auc_macro",
                "f1_macro", "n_test", "params", "size_mb", "size_mb_with_optimizer",
                "latency_ms_b1", "latency_ms_b32")

# The accuracies adapted to each group without its labels (minape_tf.adaptation), as
# (key suffix: accuracy_<suffix>, per_group_<suffix>; label in the console and reports).
ADAPTED = (("adapted", "adapted"), ("self_trained", "self-trained"))


def class_auc(positive, scores) -> float:
    """ROC AUC of ``scores`` for the boolean ``positive``; ``nan`` when only one kind occurs."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(skm.roc_auc_score(positive, scores))


def per_group_accuracy(y_true, y_pred, groups) -> dict:
    """Accuracy and count of each group (speaker, tool, manifest ``group``), sorted by name.

    Parameters
    ----------
    y_true, y_pred : array of int, shape (n,)
        True and predicted class indices.
    groups : array, shape (n,)
        The group of each observation.

    Returns
    -------
    dict
        Group name -> ``{"accuracy", "n"}``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    groups = np.asarray(groups).astype(str)
    if not len(groups) == len(y_true) == len(y_pred):
        raise ValueError(f"{len(groups)} group keys for {len(y_true)} labels and "
                         f"{len(y_pred)} predictions")
    return {str(g): {"accuracy": float(np.mean(y_true[groups == g] == y_pred[groups == g])),
                     "n": int(np.sum(groups == g))} for g in np.unique(groups)}


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
    if not len(y_true):
        raise ValueError("classification_metrics: no labels to evaluate")
    labels = list(range(num_classes))
    y_pred = probabilities.argmax(1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    aucs = [class_auc(y_true == c, probabilities[:, c]) for c in labels]
    present = [a for a in aucs if not np.isnan(a)]
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "auc_macro": float(np.mean(present)) if len(present) >= 2 else float("nan"),
        # over the classes that occur in the labels or predictions (scikit-learn's default)
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": {
            name: {"precision": float(precision[c]), "recall": float(recall[c]),
                   "f1": float(f1[c]), "support": int(support[c]), "auc": aucs[c]}
            for c, name in enumerate(classes)},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n_test": int(len(y_true)),
    }
