"""Series preprocessing as a layer: resample to the group's rate, trim or pad to its length."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="minape_tf")
class SeriesResampling(keras.layers.Layer):
    """Resample raw series from ``source_rate`` to ``sample_rate``, then trim or zero-pad
    them (at the end) to ``length`` samples (paper Eq. 8).

    The resampling is :func:`minape_tf.layers.resample.resample` (scipy's
    ``resample_poly`` filter, computed in the graph) and the trimming
    :func:`minape_tf.layers.resample.fit_length`. They work on inputs of any length, so this
    layer runs on TensorFlow tensors only: it is the first stage of the data pipeline and of
    the exported SavedModel's signature, outside the Keras model, whose series inputs have
    the group's fixed rate and length.

    Parameters
    ----------
    source_rate : int
        Rate (Hz) of the incoming series.
    sample_rate : int
        Rate (Hz) of the output.
    length : int
        Samples of the output.

    Input ``(samples, channels)`` or ``(batch, samples, channels)``, any ``samples``;
    output float32 ``(..., length, channels)``.
    """

    def __init__(self, source_rate, sample_rate, length, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("source_rate", source_rate), ("sample_rate", sample_rate),
                           ("length", length)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SeriesResampling: {key}={value!r}; expected a positive "
                                 "integer")
        self.source_rate, self.sample_rate, self.length = source_rate, sample_rate, length

    def call(self, series):
        import tensorflow as tf

        from minape_tf.layers.resample import fit_length, resample

        x = tf.cast(series, tf.float32)
        if x.shape.rank == 2:
            return self._one(x, resample, fit_length)
        # (batch, samples, channels) -> (samples, batch * channels): one resampling call.
        shape = tf.shape(x)
        flat = tf.reshape(tf.transpose(x, (1, 0, 2)), (shape[1], shape[0] * shape[2]))
        y = self._one(flat, resample, fit_length)
        y = tf.transpose(tf.reshape(y, (self.length, shape[0], shape[2])), (1, 0, 2))
        return tf.ensure_shape(y, (x.shape[0], self.length, x.shape[2]))

    def _one(self, x, resample, fit_length):
        x = resample(x, self.source_rate, self.sample_rate, length=self.length)
        return fit_length(x, self.length)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-2], self.length, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(source_rate=self.source_rate, sample_rate=self.sample_rate,
                      length=self.length)
        return config
