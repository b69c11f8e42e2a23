"""A device's frequency response measured from its unlabelled observations, for
:class:`~minape_tf.layers.equalization.DeviceEqualization`: the band means at the end of
training (:func:`set_reference`) and on a new device (:func:`set_device`).

The means are over frames within ``floor_db`` of the observation's loudest frame, so that
pauses and padding, whose share differs between devices, do not weigh in.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from minape_tf.layers.equalization import DeviceEqualization


def band_statistics(x, eps=1e-6, floor_db=40.0):
    """``(sums, counts)`` of a batch of log-Mel ``x`` ``(batch, frames, n_mels, channels)``
    (numpy): per band and channel, the sum of ``x`` over the loud frames (within ``floor_db``
    of their observation's loudest frame, per channel) and, per channel, how many there were.
    Batches pool by adding both; :func:`band_means` divides."""
    x = np.asarray(x, np.float64)
    energy = np.maximum(10.0 ** x - eps, 0.0).sum(axis=2, keepdims=True)   # (b, t, 1, c)
    loud = (energy > 0) & (energy >= energy.max(axis=1, keepdims=True) * 10 ** (-floor_db / 10))
    return (x * loud).sum(axis=(0, 1)), loud.sum(axis=(0, 1))


def band_means(sums, counts):
    """Mean log10 power per band and channel from pooled :func:`band_statistics`; a channel
    without a loud frame: ``ValueError``."""
    if np.any(counts == 0):
        raise ValueError("no loud frame to equalise from: the observations are silent")
    return (sums / counts).astype(np.float32)


def equalization_layers(model) -> list:
    """Every :class:`DeviceEqualization` of ``model`` (a functional model's own layers)."""
    return [layer for layer in model.layers if isinstance(layer, DeviceEqualization)]


def measured_means(model, batches) -> list:
    """The band means (:func:`band_means`) of the inputs of each of ``model``'s equalisation
    layers over ``batches`` (model inputs, or ``(inputs, labels)`` pairs); ``[]`` when it
    has none."""
    layers = equalization_layers(model)
    if not layers:
        return []
    probe = keras.Model(model.input, [layer.input for layer in layers])
    totals = None
    for batch in batches:
        inputs = batch[0] if isinstance(batch, tuple) else batch
        outputs = keras.tree.flatten(probe(inputs, training=False))
        stats = [band_statistics(ops.convert_to_numpy(x), layer.eps, layer.floor_db)
                 for x, layer in zip(outputs, layers)]
        totals = stats if totals is None else [(s + s2, c + c2) for (s, c), (s2, c2)
                                               in zip(totals, stats)]
    if totals is None:
        raise ValueError("no observations to measure the band means of")
    return [band_means(sums, counts) for sums, counts in totals]


def set_device(model, batches) -> bool:
    """Set the device means of ``model``'s equalisation layers to the band means of
    ``batches`` (one device's observations; labels ignored), so that the device's frequency
    response is replaced by the training data's. False: the model has no such layer."""
    layers = equalization_layers(model)
    for layer, mean in zip(layers, measured_means(model, batches)):
        layer.device.assign(mean)
    return bool(layers)


def set_reference(model, batches) -> bool:
    """Set the reference, and the device so that the layers still pass their input
    through, of ``model``'s equalisation layers to the band means of ``batches``: the
    training data, at the end of training. False: the model has no such layer."""
    found = set_device(model, batches)
    for layer in equalization_layers(model):
        layer.reference.assign(layer.device)
    return found
