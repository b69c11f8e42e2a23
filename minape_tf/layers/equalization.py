"""Device equalisation of log-Mel features: remove a device's own frequency response.

Each microphone, speaker or sensor colours every recording it makes the same way: a gain
per frequency band. Over many of its recordings the words or states average out and what
remains of the mean log-Mel (over the loud frames) is mostly that colouring. FSDD's
speakers differ so in some bands (docs/unseen-devices.md, "What generalises"), more than a
model trained on four of them has seen.

:class:`DeviceEqualization` adds ``reference - device`` to each band's log power (multiplies
the power by ``10 ** (reference - device)``), where ``reference`` is the training data's
mean log-Mel per band and ``device`` the mean of the device being predicted, both estimated
from unlabelled observations (:mod:`minape_tf.adaptation.frequency_response`). A model is built
with both equal (the layer passes its input through) and training sets both to the training
data's means (``set_reference``); adapting to a device (``minape adapt``, the adapted
accuracy of evaluations) sets ``device`` from the device's own observations
(``set_device``), before its batch-norm statistics. Since the weights are
the layer's, an adapted model carries its device's equalisation into the ``.keras`` file
and every export.

Choices (not in the paper, which has no device adaptation): the shift fades out over the
decade above the log-Mel's floor ``log10(eps)``, so that silence and zero padding stay at
the floor. Multiplying the power itself (``log10((10**x - eps) * gain + eps)``) would be
exact down to the floor, but its exp does not survive int8 quantisation (the layer is in
the model file that TFLite quantises), and the two differ only within that decade, far below
the loud frames.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from minape_tf.layers.dtypes import float32_policy


@keras.saving.register_keras_serializable(package="minape_tf")
class DeviceEqualization(keras.layers.Layer):
    """Add ``reference - device`` to each mel band's log power (module docstring).

    Parameters
    ----------
    eps : float, default 1e-6
        The ``eps`` of the log-Mel (``log10(mel power + eps)``): its floor, which is kept.
    floor_db : float, default 40.0
        Frames more than this below the observation's loudest frame are left out of the
        statistics (:func:`band_statistics`).
    dtype : dtype policy, default None
        Computes in float32 under any policy.

    Input and output ``(batch, frames, n_mels, channels)``. Weights (not trainable):
    ``reference`` and ``device``, each ``(n_mels, channels)`` mean log10 powers; zeros (the
    identity) when built.
    """

    def __init__(self, eps=1e-6, floor_db=40.0, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        self.eps = float(eps)
        self.floor_db = float(floor_db)

    def build(self, input_shape):
        shape = tuple(input_shape[-2:])
        self.reference = self.add_weight(name="reference", shape=shape, initializer="zeros",
                                         trainable=False)
        self.device = self.add_weight(name="device", shape=shape, initializer="zeros",
                                      trainable=False)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        floor = float(np.log10(self.eps))
        fade = ops.clip(x - floor, 0.0, 1.0)       # 0 at the floor, 1 from a decade above it
        return x + ops.cast(self.reference - self.device, self.compute_dtype) * fade

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(eps=self.eps, floor_db=self.floor_db)
        return config
