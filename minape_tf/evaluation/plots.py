"""PNG plots of an evaluation: ROC curves, confusion matrix, training curves.

Drawn on ``matplotlib.figure.Figure`` objects (scikit-learn's displays for the first two),
never through ``pyplot``: saving a plot neither switches nor opens a plotting backend, so a
notebook's own plotting is left as it was.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from minape_tf.outputs.atomic import atomic_path


def plot_roc(y_true, probabilities, classes, path):
    """One-vs-rest ROC curve per class (classes absent from ``y_true`` are skipped)."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for c, name in enumerate(classes):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        RocCurveDisplay.from_predictions(positive, probabilities[:, c], name=str(name), ax=ax)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1),
           ylim=(0, 1.01), title="ROC, one vs rest")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_confusion(matrix, classes, path):
    """Confusion matrix with counts, rows = true class, columns = predicted class."""
    size = max(4, 0.5 * len(classes) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=[str(c) for c in classes]).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    _save(fig, path)


def plot_history(rows, path) -> bool:
    """Loss and accuracy per epoch (training and validation) from a run's history rows
    (``RunFolder.read_history()``); returns False (and writes nothing) when there are none."""
    if not rows:
        return False
    epochs = [r["epoch"] + 1 for r in rows]
    fig = Figure(figsize=(10, 4))
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = [r.get(key) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=key)
        ax.set(xlabel="epoch", title=metric)
        if ax.lines:
            ax.legend(fontsize="small")
    _save(fig, path)
    return True


def _save(fig, path):
    fig.tight_layout()
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=100)
