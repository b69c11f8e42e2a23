"""PNG plots of an evaluation: ROC curves, confusion matrix, training curves (matplotlib Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minape_tf.evaluation.metrics import binary_auc, roc_curve  # noqa: E402
from minape_tf.training.history import read_history  # noqa: E402


def plot_roc(y_true, probabilities, classes, path):
    """One-vs-rest ROC curve per class (classes absent from ``y_true`` are skipped)."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    fig, ax = plt.subplots(figsize=(5, 5))
    for c, name in enumerate(classes):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr = roc_curve(positive, probabilities[:, c])
        ax.plot(fpr, tpr, label=f"{name} (AUC {binary_auc(positive, probabilities[:, c]):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1),
           ylim=(0, 1.01), title="ROC, one vs rest")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_confusion(matrix, classes, path):
    """Confusion matrix with counts, rows = true class, columns = predicted class."""
    matrix = np.asarray(matrix)
    size = max(4, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    top = matrix.max() if matrix.size else 0
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > top / 2 else "black", fontsize="small")
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    _save(fig, path)


def plot_history(history_csv, path) -> bool:
    """Loss and accuracy per epoch (training and validation) from a run's ``history.csv``;
    returns False (and writes nothing) when there is no history."""
    rows = read_history(history_csv)
    if not rows:
        return False
    epochs = [r["epoch"] + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = [r.get(key) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=key)
        ax.set(xlabel="epoch", title=metric)
        ax.legend(fontsize="small")
    _save(fig, path)
    return True


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
