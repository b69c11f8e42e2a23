"""Batch-norm statistics that match the data after training on a small data set.

With few steps per epoch, exponential moving averages (Keras' default momentum 0.99) are
still far from the data when training ends: a model can score far better in training mode
than in inference mode. Minape builds its batch norms with momentum 0.9, and
:func:`reestimate_batchnorm` replaces the moving statistics by the exact statistics of
each batch norm's input over a pass of the training data ("precise BN", Wu & Johnson
2021): per batch the layers run in training mode (normalising with the batch's statistics,
as during training) and each layer's batch means and variances are pooled by the law of
total variance into the population mean and variance.

Training uses it too: :class:`minape_tf.training.callbacks.BatchNormReestimation` before
every validation, so that early stopping and the best-validation checkpoint see the
statistics the saved model will have, and ``train`` once more on the final weights.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf


def batchnorm_layers(model) -> list:
    """Every ``keras.layers.BatchNormalization`` inside ``model``, nested layers included."""
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        for sub in getattr(layer, "_layers", []) or []:
            visit(sub)
        for sub in getattr(layer, "layers", []) if isinstance(layer, keras.Model) else []:
            visit(sub)
        for value in vars(layer).values():
            if isinstance(value, keras.layers.Layer):
                visit(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, keras.layers.Layer):
                        visit(item)

    visit(model)
    return found


_FUNCTIONS = weakref.WeakKeyDictionary()


def _statistics_function(model):
    """The model's batch norms and a compiled training-mode forward pass that returns their
    moving statistics; traced (with momentum 0) once per model and reused."""
    if model not in _FUNCTIONS:
        layers = batchnorm_layers(model)

        @tf.function(reduce_retracing=True)
        def forward(inputs):
            model(inputs, training=True)
            return [(layer.moving_mean.value, layer.moving_variance.value) for layer in layers]

        _FUNCTIONS[model] = (layers, forward)
    return _FUNCTIONS[model]


def reestimate_batchnorm(model, batches, max_batches: int | None = None) -> int:
    """Set every batch norm's moving mean and variance to its input's statistics over
    ``batches``.

    Parameters
    ----------
    model : keras.Model
    batches : iterable
        Batches of model inputs, or ``(inputs, labels)`` pairs (labels are ignored), e.g. the
        training set without augmentation.
    max_batches : int or None, default None
        Use at most this many batches.

    Returns
    -------
    int
        The number of batches used (0: nothing changed, e.g. no batch norm or no data).
    """
    layers, forward = _statistics_function(model)
    if not layers:
        return 0
    counts, means, variances = [], [], []
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0          # after a call, moving statistics = batch statistics
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            stats = forward(inputs)
            counts.append(int(tf.shape(tf.nest.flatten(inputs)[0])[0]))
            means.append([m.numpy().astype(np.float64) for m, _ in stats])
            variances.append([v.numpy().astype(np.float64) for _, v in stats])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not counts:
        return 0
    weights = np.asarray(counts, np.float64) / sum(counts)
    for j, layer in enumerate(layers):
        batch_means = np.stack([m[j] for m in means])
        batch_vars = np.stack([v[j] for v in variances])
        mean = np.tensordot(weights, batch_means, 1)
        variance = np.tensordot(weights, batch_vars + (batch_means - mean) ** 2, 1)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return len(counts)
