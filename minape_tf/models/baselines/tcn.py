"""TCN: the Temporal Convolutional Network of Bai, Kolter and Koltun (2018), "An Empirical
Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling"
(github.com/locuslab/TCN), on the raw series groups (paper Table 2, "TCN*": time series
only)."""

from __future__ import annotations

import math

import keras

from minape_tf.models.baselines.common import (check_dtype, check_groups, check_positive, check_rate,
                                        classify)
from minape_tf.models.registry import groups_read
from minape_tf.layers.level import LevelNormalization


def temporal_block(x, filters, kernel_size, dilation, dropout, prefix):
    """Bai et al.'s residual block: two dilated causal ``Conv1D`` (ReLU, dropout), plus the
    input (through a 1x1 ``Conv1D`` where the widths differ), then ReLU."""
    h = x
    for i in (1, 2):
        h = keras.layers.Conv1D(filters, kernel_size, padding="causal", dilation_rate=dilation,
                                activation="relu", name=f"{prefix}_conv_{i}")(h)
        h = keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(h)
    if x.shape[-1] != filters:
        x = keras.layers.Conv1D(filters, 1, name=f"{prefix}_downsample")(x)
    return keras.layers.Activation("relu", name=f"{prefix}_relu")(
        keras.layers.Add(name=f"{prefix}_add")([h, x]))


@keras.saving.register_keras_serializable(package="minape_tf")
class LastStep(keras.layers.Layer):
    """``(batch, steps, features)`` -> ``(batch, features)``: the last time step."""

    def call(self, x):
        return x[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def stem_stride(length, steps):
    """The stride that leaves at most ``steps`` time steps of ``length`` samples (1 when
    ``steps`` is None or the series is short enough)."""
    return 1 if steps is None else max(1, math.ceil(length / steps))


def build_tcn(groups, num_classes, *, filters=32, levels=6, kernel_size=7, dropout=0.05,
              time_steps=512, features_in_model=True, dtype=None, class_names=None, name="tcn"):
    """TCN (Bai et al. 2018) over the raw, resampled series of every ``SeriesGroup``.

    Each series group's input is the signal ``(batch, length, channels)`` at the group's
    sample rate and length (``SeriesGroup.input_shape(features_in_model=True)``; the data
    pipeline gives it with ``features_in_model=True``), level-normalised in the model where the
    group says so (``normalize``), standardised per channel by a batch norm, shortened by a
    strided stem (below), then ``levels`` residual blocks of two dilated causal
    convolutions (dilation ``2 ** i``); as in Bai et al.'s classifiers the last time step's
    features are classified. With several series groups their vectors are concatenated.
    Image groups are not read (the paper's TCN* is trained on time series only).

    Choices where the sources are vague: the paper gives no TCN settings. ``filters``,
    ``levels``, ``kernel_size`` and ``dropout`` are those of Bai et al.'s sequence tasks
    (25-30 filters, kernel 7, dropout 0.05), with 6 levels, whose receptive field
    (``1 + 2 (kernel_size - 1)(2 ** levels - 1)`` = 757 steps) covers the whole
    shortened sequence. Bai et al. read sequences of at most a few thousand steps;
    Mudestreda's forces have 150,000 samples, which would cost ~13 G multiply-adds per
    observation, so a learned strided ``Conv1D`` stem (kernel = stride =
    ``ceil(length / time_steps)``, no overlap: a patch embedding of the signal) first cuts the
    signal into at most ``time_steps`` windows; ``time_steps=None`` reads every sample (Bai et al.'s
    TCN exactly). Weight normalisation is left out (Keras has no such layer; training uses
    AdamW with gradient clipping). The per-channel batch norm stands for the input
    standardisation Bai et al. do outside the model: raw sensor units (e.g. newtons) are
    arbitrary.

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
        Only the ``SeriesGroup`` s are read (a ``ValueError`` if there is none).
    num_classes : int
    filters : int, default 32
        Channels of every block.
    levels : int, default 6
        Residual blocks; block ``i`` has dilation ``2 ** i``.
    kernel_size : int, default 7
    dropout : float, default 0.05
    time_steps : int or None, default 512
        At most this many time steps after the stem; None: no stem.
    features_in_model : True, default True
        TCN always reads the raw series (no log-Mel); ``False`` is a ``ValueError``. Named
        as ``build_minape``'s, so that the pipeline gives raw series
        (``make_dataset(features_in_model=True)``).
    dtype : None or "float32", default None
        The training loop's dtype policy; baselines build in float32 only.
    class_names : list of str or None, default None
        Accepted from the training loop; not kept in the model (unlike ``build_minape``).
    name : str, default "tcn"

    Returns
    -------
    keras.Model
        One input per series group, named after it, shaped ``(length, channels)``.
    """
    check_dtype(dtype, "tcn")
    if features_in_model is not True:
        raise ValueError(f"tcn: features_in_model={features_in_model!r}; TCN reads the raw "
                         "series, so its features are always in the model (True)")
    groups = groups_read(check_groups(groups, num_classes), "raw series", "tcn")
    check_positive(filters=filters, levels=levels, kernel_size=kernel_size)
    check_rate(dropout=dropout)
    if time_steps is not None:
        check_positive(time_steps=time_steps)
    inputs, vectors = {}, []
    for group in groups:
        inputs[group.name] = x = keras.Input(group.input_shape(features_in_model=True),
                                             name=group.name)
        if group.normalize is not None:
            x = LevelNormalization(group.normalize, dtype="float32",
                                   name=f"{group.name}_level")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{group.name}_standardise")(x)
        stride = stem_stride(group.length, time_steps)
        if stride > 1:
            x = keras.layers.Conv1D(filters, stride, strides=stride,
                                    name=f"{group.name}_stem")(x)
        for level in range(levels):
            x = temporal_block(x, filters, kernel_size, 2 ** level, dropout,
                               f"{group.name}_block_{level}")
        vectors.append(LastStep(name=f"{group.name}_last")(x))
    return classify(vectors, num_classes, inputs, name)
