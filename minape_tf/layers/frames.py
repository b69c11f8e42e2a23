"""The views of the signal itself, which keep its level and shape (the log-Mel keeps
neither): the raw series cut into overlapping frames (2-D), or its samples as they are (1-D)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from minape_tf.layers.dtypes import float32_policy
from minape_tf.stft import frame_count


@keras.saving.register_keras_serializable(package="minape_tf")
class SeriesFrames(keras.layers.Layer):
    """Cut each series into frames of ``window`` samples every ``hop`` samples: frame ``t``
    holds samples ``t*hop ... t*hop + window - 1``, as the STFT's frames (``center=False``)
    before their window and Fourier transform.

    The result is an image of frames x samples-within-frame per channel, which the
    pathway's patch embedding reads like a spectrogram. For short or slow series (a power
    trace of 24 readings, a gesture of 150), the log-Mel has too few frames and bands to
    patch, and it discards the signal's level and shape, which are what such series carry;
    the frames keep every sample as it is.

    Input ``(batch, length, channels)``, ``length >= window`` and known; output
    ``(batch, 1 + (length - window) // hop, window, channels)``.

    Parameters
    ----------
    window : int
        Samples per frame (the image's width).
    hop : int
        Samples between the starts of two frames.
    dtype : dtype policy, default None
        The layer computes in float32 (like the log-Mel); a 16-bit policy becomes float32.
    """

    def __init__(self, window, hop, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)
        for key, value in (("window", window), ("hop", hop)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SeriesFrames: {key}={value!r}; expected a positive integer")
        self.window, self.hop = int(window), int(hop)

    def _frames(self, length):
        if length is None or length < self.window:
            raise ValueError(f"SeriesFrames: input length {length} must be known and at "
                             f"least window={self.window}")
        return frame_count(length, self.window, self.hop)

    def call(self, series):
        frames = self._frames(series.shape[-2])
        index = (np.arange(frames)[:, None] * self.hop + np.arange(self.window)[None, :])
        return ops.take(ops.cast(series, "float32"), index.astype("int32"), axis=-2)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-2], self._frames(input_shape[-2]), self.window,
                input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "window": self.window, "hop": self.hop}


@keras.saving.register_keras_serializable(package="minape_tf")
class SeriesSamples(keras.layers.Layer):
    """The series as it is, in float32: the ``"raw"`` view, which the one-dimensional
    pathway reads (:func:`minape_tf.models.build_minape`).

    It computes nothing but the cast; it is a layer so that every view is one, the same in
    the data pipeline, the model with the features inside and the exported features file.

    Input and output ``(batch, length, channels)``.

    Parameters
    ----------
    dtype : dtype policy, default None
        The layer computes in float32 (like the log-Mel); a 16-bit policy becomes float32.
    """

    def __init__(self, dtype=None, **kwargs):
        super().__init__(dtype=float32_policy(dtype), **kwargs)

    def call(self, series):
        return ops.cast(series, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape
