"""Adapting the batch-norm statistics to each group (device) of an evaluation."""

import dataclasses

import keras
import numpy as np
import pytest

from minape_tf import ImageGroup, SeriesGroup, build_minape
from minape_tf.data import Source, make_dataset
from minape_tf.adaptation import self_training as adapt
from minape_tf.adaptation.batchnorm import batchnorm_layers
from minape_tf.adaptation.per_group import adapted_probabilities
from minape_tf.adaptation.self_training import (_most_confident, balance_classes,
                                                cluster_classes, self_train)
from minape_tf.adaptation.statistics import adapt_batchnorm
from minape_tf.evaluation.evaluate import predict_probabilities

GROUP = ImageGroup("im", channels=1, size=(8, 8))


def _source(labels=None):
    rng = np.random.default_rng(0)
    images = [rng.random((8, 8, 1), dtype="float32") + (0.8 if i >= 6 else 0.0)
              for i in range(10)]
    return Source(inputs={"im": [(a,) for a in images]},
                  labels=np.arange(10) % 2 if labels is None else labels, classes=["a", "b"],
                  ids=[str(i) for i in range(10)],
                  split_keys=np.array(["dev0"] * 6 + ["dev1"] * 4))


def _data(subset):
    return make_dataset(subset, [GROUP], training=False, batch_size=4, cache=False,
                        augment=False)


def _statistics(model):
    return [layer.moving_mean.numpy().copy() for layer in batchnorm_layers(model)]


def test_each_group_is_predicted_with_its_own_statistics_and_no_labels():
    model = build_minape([GROUP], 2, width=4, depth=1, patch_size=2, kernel_size=3)
    before = _statistics(model)
    source = _source()
    adapted = adapted_probabilities(model, source, _data, predict_probabilities)
    for got, kept in zip(_statistics(model), before):          # the model is left as it was
        np.testing.assert_array_equal(got, kept)
    plain, _ = predict_probabilities(model, _data(source))
    assert not np.allclose(adapted, plain, atol=1e-4)
    # Group dev1 by hand: its statistics, then its predictions.
    dev1 = source.subset(np.arange(6, 10))
    adapt_batchnorm(model, _data(dev1))
    by_hand, _ = predict_probabilities(model, _data(dev1))
    np.testing.assert_allclose(adapted[6:], by_hand, atol=1e-5)
    # The labels play no part.
    relabelled = dataclasses.replace(_source(), labels=np.ones(10, np.int64))
    model2 = build_minape([GROUP], 2, width=4, depth=1, patch_size=2, kernel_size=3)
    model2.set_weights(model.get_weights())
    for layer, mean in zip(batchnorm_layers(model2), before):
        layer.moving_mean.assign(mean)
    np.testing.assert_allclose(
        adapted_probabilities(model2, relabelled, _data, predict_probabilities), adapted,
        atol=1e-5)


def test_a_model_without_batch_norm_is_not_adapted():
    assert adapt_batchnorm(_no_batchnorm_model(), _data(_source())) == 0


def test_most_confident_keeps_the_same_share_of_every_predicted_class():
    predicted = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1, 1])
    confidence = np.array([.9, .5, .8, .7, .6, .99, .4, .95, .3, .65])
    keep = _most_confident(predicted, confidence, 0.5)
    # class 0: 5 members, round(2.5) = 2 -> .95 (7), .9 (0); class 1: 4 -> 2: .99 (5),
    # .65 (9); class 2: one member, at least one kept.
    np.testing.assert_array_equal(keep, [0, 5, 6, 7, 9])


def test_self_training_fine_tunes_the_weights_on_its_own_predictions_only():
    source = _source()
    model = build_minape([GROUP], 2, width=4, depth=1, patch_size=2, kernel_size=3)
    before = [w.copy() for w in model.get_weights()]
    rounds = self_train(model, _data(source), fractions=(0.5, 1.0), epochs=2, seed=1)
    assert 4 <= rounds[0]["kept"] <= 6 and rounds[1]["kept"] == 10   # half, then all
    assert rounds[0]["changed"] is None and rounds[1]["changed"] >= 0
    changed = [not np.allclose(a, b) for a, b in zip(model.get_weights(), before)]
    assert all(changed[:2]) and not model.compiled   # trained on a clone, not compiled
    # Labels play no part: the same batches with other labels give the same weights.
    relabelled = dataclasses.replace(_source(), labels=np.ones(10, np.int64))
    again = build_minape([GROUP], 2, width=4, depth=1, patch_size=2, kernel_size=3)
    again.set_weights(before)
    self_train(again, _data(relabelled), fractions=(0.5, 1.0), epochs=2, seed=1)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="no batch normalisation"):
        self_train(_no_batchnorm_model(), _data(source))


def test_balancing_gives_every_class_an_equal_share_by_one_factor_per_class():
    p = np.array([[.9, .1], [.8, .2], [.6, .4], [.3, .7]])
    q = balance_classes(p)
    np.testing.assert_allclose(q.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(q.sum(0), [2, 2], atol=1e-4)
    # One factor per class: every row's odds are scaled alike, so the order of the rows'
    # confidence in a class is kept, and only the row the model was least sure of moves.
    ratio = (q[:, 0] / q[:, 1]) / (p[:, 0] / p[:, 1])
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
    np.testing.assert_array_equal(q.argmax(1), [0, 0, 1, 1])


def _two_clusters():
    """Ten observations' features in two tight clusters (rows 0-4 about the x axis, 5-9
    about the y axis, at different lengths), and a classifier's probabilities whose
    boundary cuts through the second: rows 5 and 6 taken for class 0, without conviction."""
    rng = np.random.default_rng(0)
    features = np.concatenate([[[1.0, 0.0]] * 5, [[0.0, 1.0]] * 5]) \
        + 0.05 * rng.standard_normal((10, 2))
    features *= rng.uniform(0.5, 3.0, (10, 1))
    p1 = np.array([.1, .2, .1, .3, .2, .4, .45, .9, .8, .7])
    return features, np.stack([1 - p1, p1], 1)


def test_clusters_correct_what_the_classifier_boundary_misplaces():
    features, probabilities = _two_clusters()
    assert probabilities.argmax(1).tolist() == [0] * 7 + [1] * 3
    q = cluster_classes(features, probabilities)
    assert q.argmax(1).tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(q.sum(1), 1, atol=1e-5)
    # By hand: the centroids of the observations' unit features weighted by the
    # probabilities, a softmax of the cosines / temperature; then again from those classes.
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    weights = probabilities
    for _ in range(2):
        centroids = weights.T @ unit
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        logits = unit @ centroids.T / 0.1
        expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        weights = np.eye(2)[expected.argmax(1)]
    np.testing.assert_allclose(cluster_classes(features, probabilities, temperature=0.1),
                               expected, atol=1e-5)
    # Scale-free (cosines), and a zero feature row gives no NaN.
    np.testing.assert_allclose(cluster_classes(7 * features, probabilities), q, atol=1e-5)
    features[0] = 0
    assert np.isfinite(cluster_classes(features, probabilities)).all()


def test_balanced_clusters_share_the_observations_equally():
    """A classifier that takes every observation for class 0, a little less surely in the
    second cluster: class 1's centroid is drawn to where it is likeliest, so the clusters
    give both classes; balanced, each class also holds half of the probability."""
    features, _ = _two_clusters()
    p1 = np.array([.1, .2, .1, .3, .2, .4, .45, .35, .3, .25])
    probabilities = np.stack([1 - p1, p1], 1)
    assert cluster_classes(features, probabilities).argmax(1).tolist() == [0] * 5 + [1] * 5
    balanced = cluster_classes(features, probabilities, balanced=True)
    assert balanced.argmax(1).tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(balanced.sum(0), [5, 5], atol=1e-3)


def test_balanced_self_training_gives_a_neglected_class_its_share(monkeypatch):
    """A model that takes every observation of the device for class 0: plain
    self-training confirms it, balanced self-training makes half of them class 1, taking
    its targets from the clusters of what the classifier reads (width 4)."""
    source = _source()
    data = _data(source)
    inputs = np.concatenate([np.asarray(x["im"]) for x, _ in data])
    clustered = []
    monkeypatch.setattr(adapt, "cluster_classes", lambda features, probabilities, **kw: (
        clustered.append((features.shape, kw)) or cluster_classes(features, probabilities,
                                                                  **kw)))
    predictions = {}
    for balanced in (False, True):
        model = build_minape([GROUP], 2, width=4, depth=1, patch_size=2, kernel_size=3)
        model.get_layer("classifier").bias.assign([1.0, -1.0])
        self_train(model, data, fractions=(1.0,), epochs=20, learning_rate=0.02,
                   balanced=balanced, seed=1)
        predictions[balanced] = model.predict({"im": inputs}, verbose=0).argmax(1)
    assert np.all(predictions[False] == 0)
    assert np.bincount(predictions[True], minlength=2).tolist() == [5, 5]
    assert clustered == [((10, 4), {"balanced": True})]     # one round, balanced only
    with pytest.raises(ValueError, match="self_training="):
        adapted_probabilities(build_minape([GROUP], 2, width=4, depth=1, patch_size=2,
                                           kernel_size=3), source, _data,
                              predict_probabilities, self_training="yes")


def test_self_training_takes_the_inputs_of_a_multimodal_model():
    series = SeriesGroup("s", channels=1, sample_rate=1000, length=512, n_fft=128, hop=64,
                         n_mels=8)
    rng = np.random.default_rng(1)
    source = dataclasses.replace(_source(), inputs={
        **_source().inputs, "s": [(rng.standard_normal((512, 1)).astype("float32"),)
                                  for _ in range(10)]})
    model = build_minape([GROUP, series], 2, width=4, depth=1, patch_size=2, kernel_size=3)
    before = model.get_weights()
    data = make_dataset(source, [GROUP, series], training=False, batch_size=4, cache=False,
                        augment=False)
    assert len(self_train(model, data, fractions=(1.0,), epochs=1)) == 1
    assert not np.allclose(model.get_weights()[0], before[0])
    # Balanced: clusters of what the classifier reads, fused from both pathways.
    model.set_weights(before)
    assert len(self_train(model, data, fractions=(1.0,), epochs=1, balanced=True)) == 1
    assert not np.allclose(model.get_weights()[0], before[0])
    with pytest.raises(ValueError, match="no Dense classifier"):
        adapt._with_features(_no_batchnorm_model(dense=False))


def _no_batchnorm_model(dense=True):
    inputs = keras.Input((8, 8, 1), name="im")
    head = (keras.layers.Dense(2, activation="softmax") if dense
            else keras.layers.Activation("softmax"))
    return keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(inputs)))
