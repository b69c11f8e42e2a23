"""Self-training: adapt a trained model's weights to a new device without a label.

:func:`self_train` goes further, still without a label: after the statistics, the weights
are fine-tuned on the device's observations with the model's own most confident predictions
as targets, a growing share of each predicted class per round (class-balanced
self-training, Zou et al., 2018: "Unsupervised domain adaptation for semantic segmentation
via class-balanced self-training"). Taking the same share of every predicted class keeps
the easy classes from crowding out the rest. It needs no training data (it is
"source-free": the device machine may not have it) and runs in seconds. ``balanced``
self-training also assumes what a deployment may know, that the device's classes are about
equally frequent (every speaker says every digit; not a machine that is mostly healthy):
each round's targets are then the device's own clusters, balanced over the classes
(:func:`cluster_classes`: SHOT's pseudo-labels, Liang et al., 2020, with SwAV's
equipartition, :func:`balance_classes`). The predictions only seed a centroid per class in
the features that the classifier reads, each observation takes the class of the centroid
it is nearest to, and every class holds an equal share: the observations that the training
devices' boundary misplaces follow their neighbours, and a class that the model takes for
another on this device still gets its targets. What each step gains on FSDD's unseen
speakers is in docs/unseen-devices.md ("Adapting to a new device without labels").
"""

from __future__ import annotations

import keras
import numpy as np

from minape_tf.adaptation.batchnorm import batchnorm_layers
from minape_tf.arguments import named_choice
from minape_tf.adaptation.statistics import adapt_batchnorm, adapt_statistics, batch_inputs

SELF_TRAINING = ("off", "on", "balanced")
# Share of each predicted class kept as targets, per round (Zou et al. grow it likewise).
SELF_TRAIN_FRACTIONS = (0.5, 0.7, 0.9)
# Self-training's targets from the device's clusters (cluster_classes): the softmax
# temperature over cosine similarities, and the rounds of centroids (SHOT takes two).
CLUSTER_TEMPERATURE = 0.05
CLUSTER_ITERATIONS = 2


def check_self_training(value) -> str:
    """``value`` as a ``self_training`` of the evaluations, ``cv`` and ``adapt`` (the CLI's
    ``--self-train [--balanced]``): "off", "on" or "balanced" (on, with the targets balanced
    over the classes: :func:`self_train`); ``False`` / ``True`` read as "off" / "on"; else
    ``ValueError``."""
    return named_choice("self_training", value, SELF_TRAINING)


def balance_classes(probabilities, iterations=50) -> np.ndarray:
    """``probabilities`` (observations x classes) rescaled per class and per observation
    until every class holds an equal share of the total and every row still sums to 1
    (Sinkhorn-Knopp; as SwAV's equipartition, Caron et al., 2020): the class probabilities
    of a device whose classes are equally frequent, when the model favours some of them
    there. The argmax of a row moves only where the model hesitated between classes."""
    q = np.asarray(probabilities, np.float64) + 1e-12
    share = len(q) / q.shape[1]
    for _ in range(iterations):
        q = q * (share / q.sum(0, keepdims=True))
        q = q / q.sum(1, keepdims=True)
    return q.astype(np.float32)


def cluster_classes(features, probabilities, *, balanced=False,
                    temperature=CLUSTER_TEMPERATURE, iterations=CLUSTER_ITERATIONS):
    """Class probabilities of one device's observations from its own clusters: the
    observations' ``features`` (observations x features: what the classifier reads) are
    compared (cosine) with each class's centroid there, weighted by ``probabilities``
    (the model's, observations x classes), and a softmax at ``temperature`` over those
    similarities gives each observation's classes; the centroids are then taken again from
    those classes (``iterations`` in all). With ``balanced``, the probabilities are balanced
    over the classes (:func:`balance_classes`) before the first centroids and after every
    softmax.

    This is SHOT's self-supervised pseudo-labelling (Liang et al., 2020: "Do we really need
    to access the source data?"): one device's observations of a class lie close to each
    other even where the classifier's boundary, drawn for the training devices, cuts
    through them, so a centroid corrects the observations that the boundary misplaces."""
    f = _unit(np.asarray(features, np.float64))
    q = np.asarray(probabilities, np.float64)
    q = balance_classes(q) if balanced else q
    weights = q
    for _ in range(iterations):
        similarity = f @ _unit(weights.T @ f).T
        q = np.exp((similarity - similarity.max(1, keepdims=True)) / temperature)
        q = q / q.sum(1, keepdims=True)
        q = balance_classes(q) if balanced else q
        weights = np.eye(q.shape[1])[q.argmax(1)]
    return q.astype(np.float32)


def _unit(rows):
    """``rows`` scaled to unit length (a zero row stays zero)."""
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def self_train(model, batches, *, fractions=SELF_TRAIN_FRACTIONS, epochs=3,
               learning_rate=2e-4, batch_size=32, balanced=False, seed=0) -> list[dict]:
    """Adapt ``model`` in place to the observations of ``batches`` (one new device;
    unaugmented inputs, or ``(inputs, labels)`` pairs whose labels are ignored) by
    class-balanced self-training (module docstring).

    The statistics are adapted first (:func:`adapt_statistics`), the batch norms' again
    after every round. Round ``r`` keeps, of the observations predicted as each class, the
    ``fractions[r]`` most confident, and fine-tunes on them for ``epochs`` epochs (AdamW at
    ``learning_rate``, label smoothing 0.1, as in training) with the predicted classes as
    targets; with ``balanced`` (for a device whose classes are about equally frequent),
    the predictions of the device's clusters balanced over the classes
    (:func:`cluster_classes`, from the model's probabilities and the features that its last
    ``Dense`` layer reads). The fine-tuning runs on a
    clone, so ``model`` keeps its compile state (none, for a loaded run) and saves as small.
    Sets the global random seeds to ``seed`` (shuffling).

    Returns one ``{"kept": count, "changed": predictions changed since the round before}``
    per round; the model has no batch norm (or, ``balanced``, no ``Dense`` layer):
    ``ValueError``.
    """
    if not batchnorm_layers(model):
        raise ValueError("the model has no batch normalisation; self-training adapts its "
                         "statistics first")
    parts = batch_inputs(batches)      # read once: every later pass reuses these batches
    inputs = keras.tree.map_structure(
        lambda *x: np.concatenate([np.asarray(a) for a in x]), *parts)
    keras.utils.set_random_seed(seed)
    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    work.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=1e-4,
                                                  clipnorm=1.0),
                 loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    embedding = _with_features(work) if balanced else None     # built once: one trace
    adapt_statistics(work, parts)
    rounds, before = [], None
    for fraction in fractions:
        probabilities = _target_probabilities(work, embedding, inputs, batch_size)
        predicted, confidence = probabilities.argmax(1), probabilities.max(1)
        keep = _most_confident(predicted, confidence, fraction)
        targets = keras.utils.to_categorical(predicted[keep], probabilities.shape[1])
        work.fit(keras.tree.map_structure(lambda x: x[keep], inputs), targets,
                 batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
        adapt_batchnorm(work, parts)
        rounds.append({"kept": int(len(keep)), "changed": None if before is None
                       else int(np.sum(before != predicted))})
        before = predicted
    model.set_weights(work.get_weights())
    return rounds


def _target_probabilities(model, embedding, inputs, batch_size):
    """The class probabilities that a round of :func:`self_train` takes its targets from:
    the model's; given ``embedding`` (:func:`_with_features` of ``model``: balanced
    self-training), those of the device's clusters, balanced over the classes
    (:func:`cluster_classes`)."""
    if embedding is None:
        return model.predict(inputs, batch_size=batch_size, verbose=0)
    features, probabilities = embedding.predict(inputs, batch_size=batch_size, verbose=0)
    return cluster_classes(features, probabilities, balanced=True)


def _with_features(model):
    """``model`` with two outputs: what its classifier (its last ``Dense`` layer) reads,
    and its probabilities; it shares ``model``'s layers."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name!r} has no Dense classifier, whose inputs "
                         "self-training clusters")
    return keras.Model(model.input, [dense[-1].input, model.outputs[0]])


def _most_confident(predicted, confidence, fraction):
    """Indices of the ``fraction`` most confident observations of each predicted class (at
    least one per predicted class)."""
    keep = []
    for c in np.unique(predicted):
        members = np.flatnonzero(predicted == c)
        count = max(1, int(round(fraction * len(members))))
        keep.extend(members[np.argsort(-confidence[members], kind="stable")[:count]])
    return np.sort(np.asarray(keep))
