"""Per-observation level normalisation of raw series (before the log-Mel)."""

from __future__ import annotations

import keras
from keras import ops

from minape_tf.layers.dtypes import float32_policy

_MODES = (None, "none", "peak", "rms")


@keras.saving.register_keras_serializable(package="minape_tf")
class LevelNormalization(keras.layers.Layer):
    """Divide each series by its level, per observation and channel, over the time axis.

    Recordings of the same thing can differ tenfold in level (FSDD's speakers do); a
    level-invariant input makes a model that transfers to a new recorder or speaker.

    Parameters
    ----------
    mode : {"peak", "rms", None}, default "peak"
        ``"peak"``: divide by ``max |x|``; ``"rms"``: divide by ``sqrt(mean(x**2))``;
        ``None`` (or ``"none"``): identity. The level is computed over the whole input
        length, padding included (the pipeline pads with zeros to the group's length).
    eps : float, default 1e-8
        Added to the level, so that an all-zero series stays zero instead of NaN.
    dtype : dtype policy, default None
        The layer computes in float32 under any policy (``eps`` and quiet signals vanish in
        16-bit floats): a 16-bit or mixed policy given here becomes ``"float32"``.

    Input ``(batch, length, channels)``; output the same shape.
    """

    def __init__(self, mode="peak", eps=1e-8, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        if mode not in _MODES:
            raise ValueError(f"LevelNormalization: mode={mode!r}; expected one of {_MODES}")
        self.mode = None if mode == "none" else mode
        self.eps = float(eps)

    def call(self, inputs):
        if self.mode is None:
            return inputs
        if self.mode == "peak":
            level = ops.max(ops.abs(inputs), axis=-2, keepdims=True)
        else:
            level = ops.sqrt(ops.mean(ops.square(inputs), axis=-2, keepdims=True))
        return inputs / (level + self.eps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, eps=self.eps)
        return config
