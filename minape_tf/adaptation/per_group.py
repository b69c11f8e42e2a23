"""Adaptation per group of an evaluation: each group's (speaker, tool, manifest ``group``)
observations adapt the model that then predicts them, so that no label is used.

Evaluations report it beside the plain accuracy (``accuracy_adapted``, ``per_group_adapted``,
and with self-training ``accuracy_self_trained``).
"""

from __future__ import annotations

import numpy as np

from minape_tf.adaptation.self_training import check_self_training, self_train
from minape_tf.adaptation.statistics import (adapt_statistics, restore_statistics,
                                             saved_statistics)


def adapted_probabilities(model, source, make_data, predict, *,
                          self_training="off") -> np.ndarray:
    """Class probabilities of every observation of ``source`` with the statistics
    (:func:`adapt_statistics`) of its own group (``source.split_keys``; one group when there
    are none); with ``self_training`` "on" (or "balanced": ``self_train(balanced=True)``),
    with the model self-trained on its group (:func:`self_train`).

    ``make_data(subset)`` gives the unaugmented batches of a ``Source`` in order and
    ``predict(model, data)`` their ``(probabilities, labels)``. Each group's adaptation
    replaces all the statistics (and weights), so they are put back once, at the end.
    """
    keys = (np.zeros(len(source), int) if source.split_keys is None
            else np.asarray(source.split_keys))
    training = check_self_training(self_training) != "off"
    saved = model.get_weights() if training else saved_statistics(model)
    out = None
    try:
        for key in np.unique(keys):
            index = np.flatnonzero(keys == key)
            data = make_data(source.subset(index))
            if training:
                model.set_weights(saved)
                self_train(model, data, balanced=self_training == "balanced")
            else:
                adapt_statistics(model, data)
            probabilities, _ = predict(model, data)
            if out is None:
                out = np.zeros((len(source), probabilities.shape[1]), probabilities.dtype)
            out[index] = probabilities
    finally:
        if training:
            model.set_weights(saved)
        else:
            restore_statistics(model, saved)
    return out
