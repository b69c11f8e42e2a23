"""Batch-norm re-estimation: moving statistics equal the data's after training."""

import keras
import numpy as np
import pytest

from minape_tf import ImageGroup, build_minape
from minape_tf.layers.activation import apply_activation
from minape_tf.adaptation.batchnorm import batchnorm_layers, reestimate_batchnorm


def _model_and_data(n=24, seed=0):
    keras.utils.set_random_seed(seed)
    group = ImageGroup("img", channels=3, size=(16, 16))
    model = build_minape([group], 3, width=8, depth=2, patch_size=4, kernel_size=3,
                         bn_momentum=0.99)
    x = np.random.default_rng(seed).normal(2.0, 3.0, (n, 16, 16, 3)).astype("float32")
    return model, {"img": x}


def test_finds_the_nested_batch_norms():
    model, _ = _model_and_data()
    # patch embedding + 2 per channel-point block (depthwise, pointwise)
    assert len(batchnorm_layers(model)) == 1 + 2 * 2


def test_one_full_batch_makes_inference_equal_training_mode():
    model, x = _model_and_data()
    train_mode = np.asarray(model(x, training=True))
    before = np.asarray(model(x, training=False))
    assert np.abs(before - train_mode).max() > 1e-2    # momentum 0.99: statistics are off
    assert reestimate_batchnorm(model, [x]) == 1
    np.testing.assert_allclose(np.asarray(model(x, training=False)), train_mode, atol=1e-4)


def test_several_batches_pool_to_the_population_statistics():
    # the first batch norm's input does not depend on other batch norms, so after a pass in
    # uneven batches its statistics must be those of the whole data set
    model, x = _model_and_data(n=30)
    embedding = model.get_layer("img_patch_embedding")
    first = embedding.norm
    values = np.asarray(apply_activation(embedding.conv(x["img"]), embedding.activation))
    values = values.reshape(-1, values.shape[-1])
    batches = [{"img": x["img"][i:i + 8]} for i in range(0, 30, 8)]   # 8, 8, 8, 6
    assert reestimate_batchnorm(model, batches) == 4
    assert first.momentum == pytest.approx(0.99)      # restored after the pass
    np.testing.assert_allclose(first.moving_mean.numpy(), values.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), values.var(0), rtol=1e-3,
                               atol=1e-5)


def test_max_batches_and_no_batch_norm():
    model, x = _model_and_data()
    assert reestimate_batchnorm(model, [x, x, x], max_batches=2) == 2
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert reestimate_batchnorm(plain, [np.ones((2, 4), "float32")]) == 0
