"""The per-group encoder of the late-fusion baselines (Mulmix, EmbraceNet)."""

from __future__ import annotations

import keras

from minape_tf.models.baselines.common import check_positive, group_input

ENCODER_FILTERS = (32, 64, 128, 256)


def conv_encoder(x, prefix, filters=ENCODER_FILTERS):
    """A small CNN: per entry of ``filters`` a 3x3 ``Conv2D`` with stride 2, batch norm and
    ReLU; then global average pooling. Reads an image or a group's log-Mel spectrograms
    (frames x mels) alike; returns ``(batch, filters[-1])``.

    Neither the Minape paper nor Mulmix's and EmbraceNet's papers fix an encoder for these
    inputs (Liu et al. use ResNets on CIFAR, Choi and Lee modality-specific CNNs), so
    both get this one: four stride-2 stages (32 to 256 channels, 0.39M parameters for
    three input channels) that halve the resolution at every stage as such CNNs do.
    """
    check_positive(encoder_filters=filters)
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False,
                                name=f"{prefix}_conv_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn_{i}")(x)
        x = keras.layers.Activation("relu", name=f"{prefix}_relu_{i}")(x)
    return keras.layers.GlobalAveragePooling2D(name=f"{prefix}_pool")(x)


def encode_groups(groups, features_in_model=False, filters=None):
    """``(inputs, vectors)``: one model input per group (a dict keyed by group name) and
    its :func:`conv_encoder` vector (``filters``; None: :data:`ENCODER_FILTERS`), in the
    order of ``groups``."""
    filters = ENCODER_FILTERS if filters is None else filters
    inputs, vectors = {}, []
    for group in groups:
        inputs[group.name], x = group_input(group, features_in_model)
        vectors.append(conv_encoder(x, f"{group.name}_encoder", filters))
    return inputs, vectors
