"""Batch-norm statistics of each device: adapt a trained model to a new device, unlabelled.

A new speaker, microphone or machine shifts the distribution of every layer's inputs; the
batch norms' moving statistics are those of the training devices. Re-estimating them on the
new device's own observations (AdaBN, Li et al., 2016: "Revisiting batch normalization for
practical domain adaptation") needs no label, only some of its observations, which a
deployment usually has: record a while, re-estimate, then predict. The weights stay as
trained.

:func:`adapted_probabilities` does it per group (speaker, tool, manifest ``group``) of an
evaluation: each group's observations re-estimate the statistics that then predict them, so
the labels are never used. Evaluations report it beside the plain accuracy
(``accuracy_adapted``, ``per_group_adapted``); :func:`adapt_batchnorm` adapts a model for
deployment.
"""

from __future__ import annotations

import numpy as np

from minape_tf.training.batchnorm import batchnorm_layers, reestimate_batchnorm


def _statistics(model):
    return [[v.numpy() for v in (layer.moving_mean, layer.moving_variance)]
            for layer in batchnorm_layers(model)]


def _restore(model, saved):
    for layer, (mean, variance) in zip(batchnorm_layers(model), saved):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)


def adapt_batchnorm(model, batches, max_batches=None) -> int:
    """Replace ``model``'s batch-norm statistics by those of ``batches`` (inputs, or
    ``(inputs, labels)`` pairs whose labels are ignored): the observations of one new
    device. Returns the number of batches used (0: the model has no batch norm)."""
    return reestimate_batchnorm(model, batches, max_batches=max_batches)


def adapted_probabilities(model, source, make_data, predict) -> np.ndarray:
    """Class probabilities of every observation of ``source`` with the batch-norm statistics
    of its own group (``source.split_keys``; one group when there are none).

    ``make_data(subset)`` gives the unaugmented batches of a ``Source`` in order and
    ``predict(model, data)`` their ``(probabilities, labels)``. Each group's re-estimation
    replaces all the statistics, so they are put back once, at the end.
    """
    keys = (np.zeros(len(source), int) if source.split_keys is None
            else np.asarray(source.split_keys))
    saved = _statistics(model)
    out = None
    try:
        for key in np.unique(keys):
            index = np.flatnonzero(keys == key)
            data = make_data(source.subset(index))
            adapt_batchnorm(model, data)
            probabilities, _ = predict(model, data)
            if out is None:
                out = np.zeros((len(source), probabilities.shape[1]), probabilities.dtype)
            out[index] = probabilities
    finally:
        _restore(model, saved)
    return out
