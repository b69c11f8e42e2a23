"""Mulmix: the multiplicative modality mixture of Liu et al. (2018), "Learn to Combine
Modalities in Multimodal Deep Learning" (github.com/skywaLKer518/MultiplicativeMultimodal),
paper Table 2."""

from __future__ import annotations

import itertools

import keras
from keras import ops

from minape_tf.models.baselines.common import check_dtype, check_groups, check_positive, softmax_model
from minape_tf.models.baselines.encoders import encode_groups


@keras.saving.register_keras_serializable(package="minape_tf")
class MultiplicativeCombination(keras.layers.Layer):
    """Combine the class logits of ``M`` candidates multiplicatively (Liu et al., Eq. 4).

    With ``p_j`` candidate ``j``'s class probabilities, the combined score of class ``c``
    is ``s_c = sum_j q_jc log p_jc`` where ``q_jc = prod_{i != j} (1 - p_ic) ** (1 / (M - 1))``
    (the geometric mean; the reference code's ``mul=1``) is held constant in the gradient:
    a candidate is trained less on the examples the others already get right, so each can
    specialise. The layer returns the scores ``s``; a softmax of them is the prediction
    (the reference code takes the same softmax). With one candidate ``s = log p``.

    Input: a list of ``(batch, classes)`` logits. Output: ``(batch, classes)`` scores.
    """

    def call(self, logits):
        logp = [ops.log_softmax(x, axis=-1) for x in logits]
        if len(logp) == 1:
            return logp[0]
        log_miss = [ops.stop_gradient(ops.log(ops.maximum(1.0 - ops.exp(lp), 1e-7)))
                    for lp in logp]
        total = sum(log_miss)
        others = len(logp) - 1
        return sum(ops.exp((total - own) / others) * lp for own, lp in zip(log_miss, logp))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def mixtures(n):
    """Liu et al.'s mixture candidates: every non-empty subset of ``range(n)``, singletons
    first, in order of size then of index."""
    return [c for k in range(1, n + 1) for c in itertools.combinations(range(n), k)]


def build_mulmix(groups, num_classes, *, units=256, encoder_filters=None,
                 features_in_model=False, dtype=None, class_names=None, name="mulmix"):
    """Mulmix: per-group encoders, additive mixture candidates, multiplicative combination.

    Each group is read by its own :func:`~minape_tf.models.baselines.encoders.conv_encoder`.
    Mixture candidates (Liu et al.'s "mixture of modalities") are every non-empty subset of
    the groups: a single group's candidate is its encoder's vector; a subset's is the
    additive merge of its members (a ``Dense(units)`` of their concatenation, which is the
    sum of one dense projection per member, batch norm, ReLU), as in the reference code's
    ``addmul`` merge. Each candidate has its own head (``Dense(units, relu)``, then
    class logits) and the heads are combined by :class:`MultiplicativeCombination`; the
    output is the softmax of the combined scores.

    Choices where the sources are vague: the reference code trains with the loss
    ``-s_y`` (the combined score of the true class); here the model is trained like every
    other with the cross-entropy of the softmax of ``s``, whose gradient adds the
    normalisation term, so that the output is a probability distribution (needed for AUC
    and for one training loop for all models). The prediction (``argmax s``) is the
    reference code's. Candidate heads have one hidden layer of ``units`` (the reference's
    HIGGS model has two, of 500 and 200, on 28 features). With ``M`` groups there are
    ``2 ** M - 1`` candidates (3 for two groups).

    Parameters
    ----------
    groups : list of ImageGroup / SeriesGroup
    num_classes : int
    units : int, default 256
        Width of the additive merges and of the candidates' hidden layer.
    encoder_filters : tuple of int or None, default None
        The encoder's stages; None: ``ENCODER_FILTERS``, (32, 64, 128, 256).
    features_in_model : bool, default False
        As in ``build_minape``.
    dtype : None or "float32", default None
        The training loop's dtype policy; baselines build in float32 only.
    class_names : list of str or None, default None
        Accepted from the training loop; not kept in the model (unlike ``build_minape``).
    name : str, default "mulmix"

    Returns
    -------
    keras.Model
    """
    check_dtype(dtype, "mulmix")
    groups = check_groups(groups, num_classes)
    check_positive(units=units)
    inputs, vectors = encode_groups(groups, features_in_model, encoder_filters)
    logits = []
    for subset in mixtures(len(groups)):
        tag = "_".join(groups[i].name for i in subset)
        if len(subset) == 1:
            z = vectors[subset[0]]
        else:
            z = keras.layers.Concatenate(name=f"mix_{tag}_concat")([vectors[i] for i in subset])
            z = keras.layers.Dense(units, name=f"mix_{tag}_merge")(z)
            z = keras.layers.BatchNormalization(momentum=0.9, name=f"mix_{tag}_bn")(z)
            z = keras.layers.Activation("relu", name=f"mix_{tag}_relu")(z)
        z = keras.layers.Dense(units, activation="relu", name=f"mix_{tag}_hidden")(z)
        logits.append(keras.layers.Dense(num_classes, name=f"mix_{tag}_logits")(z))
    scores = MultiplicativeCombination(name="combination")(logits)
    return softmax_model(inputs, scores, name)
