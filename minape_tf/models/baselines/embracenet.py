"""EmbraceNet: Choi and Lee (2019), "EmbraceNet: A robust deep learning architecture for
multimodal classification" (github.com/idearibosome/embracenet), paper Table 2."""

from __future__ import annotations

import keras
from keras import ops

from minape_tf.models.baselines.common import (check_dtype, check_groups, check_positive, check_rate,
                                        classify)
from minape_tf.models.baselines.encoders import encode_groups


@keras.saving.register_keras_serializable(package="minape_tf")
class Embracement(keras.layers.Layer):
    """The embracement of ``M`` docked vectors of one width ``D`` into one of width ``D``.

    In training, every feature ``k`` of every example is taken from one modality drawn at
    random (``r_k ~ Multinomial(1, p)``, ``e_k = sum_m r_km d_mk``), with ``p`` uniform
    over the modalities that are present; modality dropout first removes each modality of
    an example with probability ``modality_dropout`` (one is always kept), so that the
    model learns to classify from any subset. In inference all modalities are present and
    the embracement is its expectation, ``e_k = mean_m d_mk`` (the reference code draws at
    inference too; the expectation makes predictions deterministic, as dropout's
    inference rule does).

    Parameters
    ----------
    modality_dropout : float, default 0.1
    seed : int or None, default None

    Input: a list of ``(batch, D)`` tensors. Output: ``(batch, D)``.
    """

    def __init__(self, modality_dropout=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.modality_dropout = float(modality_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, docked, training=None):
        d = ops.stack(docked, axis=1)                       # (batch, M, D)
        if not training or len(docked) == 1:
            return ops.mean(d, axis=1)
        batch, modalities, width = ops.shape(d)[0], len(docked), d.shape[-1]
        draw = keras.random.uniform((batch, modalities), seed=self.seed_generator)
        keep = draw >= self.modality_dropout
        # an example whose modalities are all drawn out keeps the one with the highest draw
        highest = draw >= ops.max(draw, axis=1, keepdims=True)
        keep = ops.where(ops.any(keep, axis=1, keepdims=True), keep, highest)
        logits = ops.where(keep, 0.0, -1e9)                # uniform over those present
        choice = keras.random.categorical(logits, width, seed=self.seed_generator)
        chosen = ops.one_hot(choice, modalities, dtype=d.dtype)  # (batch, D, M)
        return ops.sum(ops.transpose(chosen, (0, 2, 1)) * d, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "modality_dropout": self.modality_dropout,
                "seed": self.seed}


def build_embracenet(groups, num_classes, *, embracement_size=256, modality_dropout=0.1,
                     encoder_filters=None, features_in_model=False, embracement_seed=None,
                     dtype=None, class_names=None, name="embracenet"):
    """EmbraceNet: per-group encoders, docking layers, embracement, classifier.

    Each group is read by its own :func:`~minape_tf.models.baselines.encoders.conv_encoder`;
    a docking layer (``Dense(embracement_size)``, ReLU) brings every group's vector to one
    width; :class:`Embracement` merges them (a random modality per feature in training,
    with modality dropout; the expectation in inference); a dense softmax classifies.

    Choices where the sources are vague: the paper gives no settings. The embracement
    width 256 and a single dense classifier after it follow the reference code's examples
    (docking to 256 features, then the task's output layer); the selection probabilities
    are uniform (the reference default); modality dropout 0.1.

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
    num_classes : int
    embracement_size : int, default 256
    modality_dropout : float, default 0.1
        Probability of removing a modality of a training example (see :class:`Embracement`).
    encoder_filters : tuple of int or None, default None
        The encoder's stages; None: ``ENCODER_FILTERS``, (32, 64, 128, 256).
    features_in_model : bool, default False
        As in ``build_minape``.
    embracement_seed : int or None, default None
        Seeds the embracement's draws (``None``: from Keras' global seed, which
        ``minape train --seed`` sets).
    dtype : None or "float32", default None
        The training loop's dtype policy; baselines build in float32 only.
    class_names : list of str or None, default None
        Accepted from the training loop; not kept in the model (unlike ``build_minape``).
    name : str, default "embracenet"

    Returns
    -------
    keras.Model
    """
    check_dtype(dtype, "embracenet")
    groups = check_groups(groups, num_classes)
    check_positive(embracement_size=embracement_size)
    check_rate(modality_dropout=modality_dropout)
    inputs, vectors = encode_groups(groups, features_in_model, encoder_filters)
    docked = [keras.layers.Dense(embracement_size, activation="relu",
                                 name=f"{group.name}_docking")(x)
              for group, x in zip(groups, vectors)]
    embraced = Embracement(modality_dropout, seed=embracement_seed, name="embracement")(docked)
    return classify([embraced], num_classes, inputs, name)
