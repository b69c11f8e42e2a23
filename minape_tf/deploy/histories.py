"""Device histories at prediction time, one pathway pass per observation.

A model built with ``sequence_length = L > 1`` reads a device's last ``L`` observations,
oldest first (:mod:`minape_tf.data.sequences`). Its pathways read each observation alone
(the ``L`` steps are folded onto the batch axis, and batch norm uses its moving statistics),
so the model is two parts: the **encoder**, one observation -> its fused pathway vector, and
the **head**, the temporal learner and classifier over ``L`` vectors. The window's
probabilities are ``head(encoder(x_1) ... encoder(x_L))``, equal to the whole model's.

Prediction over many observations therefore runs the encoder once per observation and the
head once per window (:func:`windows_of`); a deployment that sees one observation
at a time keeps, per device, the vectors of its last ``L - 1`` observations
(:class:`DeviceHistories`). A device with fewer than ``L`` observations so far gets a window
padded at the old end with copies of its oldest observation's vector, as training pads with
copies of the observation itself; the number of observations the window really holds is
returned beside the probabilities.
"""

from __future__ import annotations

import keras
import numpy as np

from minape_tf.data.sequences import history_windows


def split_model(model) -> tuple:
    """``(encoder, head)`` of a :class:`~minape_tf.models.minape.Minape` with ``sequence_length >
    1``, sharing its layers and weights.

    ``encoder``: ``{group name: (batch, *input_shape)}`` -> ``(batch, vector)`` float32.
    ``head``: ``{"steps": (batch, L, vector)}``, oldest first -> probabilities ``(batch,
    classes)``.
    """

    length = model.arguments.get("sequence_length", 1)
    if length < 2:
        raise ValueError("the model reads single observations (sequence_length=1): it has "
                         "no temporal head to split off")
    names = [g.name for g in model.groups]
    folded = [model.get_layer(f"{name}_fold").output for name in names]
    unfold = model.get_layer("unfold")
    pathways = keras.Model(folded, unfold.input, name="pathways")
    inputs = {name: keras.Input(tuple(x.shape[1:]), name=name) for name, x in zip(names, folded)}
    encoder = keras.Model(inputs, pathways([inputs[n] for n in names]), name="encoder")
    learner = keras.Model(unfold.output, model.output, name="learner")
    steps = keras.Input((length, unfold.input.shape[-1]), name="steps")
    head = keras.Model({"steps": steps}, learner(steps), name="head")
    return encoder, head


def windows_of(vectors, source, length) -> tuple:
    """``(steps, observed)``: each observation's window of ``vectors`` (``(n, vector)``, one
    per observation of ``source``) as ``(n, L, vector)``, and how many of its ``L`` steps are
    observations (fewer: padded)."""
    windows = history_windows(source, length)
    return vectors[windows.index], windows.mask.sum(axis=1)


def history_gaps(full, kept, length) -> np.ndarray:
    """For each observation of ``kept`` (``full`` without the observations that could not be
    read, in the same order), how many left-out observations of its device its window of
    ``length`` passes over: ``0`` when its history is whole."""
    index, k = [], 0
    for i, ident in enumerate(full.ids):          # kept's rows within full, in order
        if k < len(kept.ids) and kept.ids[k] == ident:
            index.append(i)
            k += 1
    is_kept = np.zeros(len(full.ids), bool)
    is_kept[index] = True
    devices, order = np.asarray(full.split_keys), np.asarray(full.order, float)
    gaps = np.zeros(len(full.ids), np.int64)
    for device in np.unique(devices):
        rows = np.flatnonzero(devices == device)
        rows = rows[np.lexsort((rows, order[rows]))]          # oldest first
        left_out = np.cumsum(~is_kept[rows])                  # up to each position
        kept_at = np.flatnonzero(is_kept[rows])
        for n, at in enumerate(kept_at):
            first = 0 if n + 1 < length else kept_at[n - length + 1]    # the window's start
            gaps[rows[at]] = left_out[at] - (left_out[first - 1] if first else 0)
    return gaps[index]


class DeviceHistories:
    """The last ``L - 1`` vectors of each device, for predicting one observation at a time.

    Parameters
    ----------
    length : int
        ``L``, the model's ``sequence_length``.

    Examples
    --------
    >>> histories = DeviceHistories(4)
    >>> steps, observed = histories.window("press-3", encoder(x)[0])   # doctest: +SKIP
    >>> probabilities = head({"steps": steps[None]})[0]                # doctest: +SKIP
    """

    def __init__(self, length):
        self.length = int(length)
        self._past = {}

    def window(self, device, vector) -> tuple:
        """``(steps (L, vector), observed)``: ``vector`` (the device's newest observation)
        after the device's previous ones, padded at the old end while the device has fewer
        than ``L`` observations; the device's state then holds the last ``L - 1``."""
        past = [*self._past.get(device, ()), np.asarray(vector, np.float32)]
        self._past[device] = past[-(self.length - 1):] if self.length > 1 else []
        observed = len(past)
        steps = [past[0]] * (self.length - observed) + past
        return np.stack(steps), observed

    def forget(self, device):
        """Drop a device's state (a replaced tool, a new recording session)."""
        self._past.pop(device, None)
