"""The authors' checkpoint and their input preparation (minape_tf.models.official)."""

import keras
import numpy as np
import pytest

from conftest import require_data
from minape_tf import build_minape, presets
from minape_tf.models.official import (CLASSES, SPEC_GROUP, authors_spec_images, authors_stack,
                                load_checkpoint, opencv_cubic_resize)

CHECKPOINT = "official/spec_aug_tool_opt.h5"


class _Keras2DepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """Keras 3's DepthwiseConv2D, ignoring the ``groups`` key that Keras 2 saved."""

    def __init__(self, *args, groups=None, **kwargs):
        super().__init__(*args, **kwargs)


@pytest.fixture(scope="module")
def checkpoint():
    return require_data(CHECKPOINT)


def _pooled(model, layer):
    return keras.Model(model.inputs, model.get_layer(layer).output)


def test_checkpoint_gives_the_outputs_of_the_h5_loaded_by_keras(checkpoint):
    reference = keras.models.load_model(
        checkpoint, custom_objects={"DepthwiseConv2D": _Keras2DepthwiseConv2D}, compile=False)
    ours = load_checkpoint(checkpoint)
    assert ours.count_params() == reference.count_params() == 311_299
    assert [t.name for t in ours.inputs] == ["spec"]
    # Inputs in the range the authors fed (their read_specs: [0, 1]), so outputs are not
    # saturated; compare the pooled features too, where a wrong weight cannot hide.
    x = np.random.default_rng(0).uniform(0, 1, (3, 256, 256, 9)).astype("float32")
    x[1] *= 0.2
    x[2] = x[2] ** 4
    expected = reference.predict(x, verbose=0)
    got = ours.predict({"spec": x}, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    features = _pooled(ours, "spec_pool").predict({"spec": x}, verbose=0)
    reference_features = _pooled(reference, reference.layers[-2].name).predict(x, verbose=0)
    assert np.abs(features - reference_features).max() <= 1e-5 * np.abs(reference_features).max()


def test_checkpoint_has_the_official_preset_configuration(checkpoint):
    model = load_checkpoint(checkpoint)
    preset = build_minape([SPEC_GROUP], len(CLASSES), **presets["mudestreda-official"])
    assert [w.shape for w in model.weights] == [w.shape for w in preset.weights]
    blocks = [layer for layer in model.layers if layer.name.startswith("spec_block_")]
    assert len(blocks) == presets["mudestreda-official"]["depth"]
    assert {b.activation for b in blocks} == {"gelu"}


def test_load_checkpoint_names_a_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_checkpoint(tmp_path / "missing.h5")
    import h5py
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(ValueError, match="empty.h5.*not a Keras 2"):
        load_checkpoint(tmp_path / "empty.h5")


def test_authors_stack_is_not_a_pixelwise_stack():
    size = 6
    # Three images of one observation whose values say where they come from:
    # image * 1000 + row * 100 + column * 10 + channel.
    image, row, col, channel = np.meshgrid(np.arange(3), np.arange(size), np.arange(size),
                                           np.arange(3), indexing="ij")
    images = (image * 1000 + row * 100 + col * 10 + channel).astype(np.float32)
    stacked = authors_stack(images)[0]
    assert stacked.shape == (size, size, 9)
    pixelwise = np.concatenate(list(images), axis=-1)
    assert not np.array_equal(stacked, pixelwise)
    # Pixel (0, 0) holds the first three RGB pixels of specX's first row ...
    np.testing.assert_array_equal(stacked[0, 0], images[0, 0, 0:3].ravel())
    np.testing.assert_array_equal(stacked[0, 1], images[0, 0, 3:6].ravel())
    # ... a row holds three rows of one image: the top third is specX, then specY, specZ.
    np.testing.assert_array_equal(stacked[0].reshape(-1, 3), images[0, 0:3].reshape(-1, 3))
    assert set((stacked[:2] // 1000).ravel()) == {0}
    assert set((stacked[2:4] // 1000).ravel()) == {1}
    assert set((stacked[4:] // 1000).ravel()) == {2}
    # Two observations: the second starts with its own specX.
    two = authors_stack(np.concatenate([images, images + 5000]))
    assert two.shape == (2, size, size, 9) and two[1, 0, 0, 0] == 5000
    with pytest.raises(ValueError, match="three images"):
        authors_stack(images[:2])


def test_opencv_cubic_resize_follows_keys_cubic():
    rng = np.random.default_rng(0)
    flat = np.full((37, 53, 3), 77, np.uint8)
    np.testing.assert_array_equal(opencv_cubic_resize(flat, (20, 31)), 77)
    image = rng.integers(0, 256, (11, 13, 3), dtype=np.uint8)
    np.testing.assert_array_equal(opencv_cubic_resize(image, (11, 13)), image)
    # Upsampling by 2: output pixel 1 of a row lies at source 0.25 (half-pixel centres), with
    # Keys' a = -0.75 weights at t = 0.25 and the left edge replicated.
    row = np.array([[[10], [200], [30], [90]]], np.uint8).repeat(4, axis=0)
    t, a = 0.25, -0.75
    w = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
         ((a + 2) * t - (a + 3)) * t * t + 1,
         ((a + 2) * (1 - t) - (a + 3)) * (1 - t) ** 2 + 1]
    w.append(1 - sum(w))
    expected = np.clip(np.rint(np.dot(w, [10, 10, 200, 30])), 0, 255)
    assert opencv_cubic_resize(row, (4, 8))[0, 1, 0] == expected
    # Keys' a = -0.75 rings at an edge (under- and overshoot), unlike a bilinear resize ...
    step = np.full((4, 8, 1), 50, np.uint8)
    step[:, 4:] = 200
    edge = opencv_cubic_resize(step, (4, 16))[0, :, 0]
    assert edge.min() < 50 and edge.max() > 200
    # ... and the ringing is saturated to [0, 255], not wrapped around.
    edge = opencv_cubic_resize(np.where(step > 100, 255, 0).astype(np.uint8), (4, 16))[0, :, 0]
    assert edge[6] == 0 and edge[9] == 255
    with pytest.raises(ValueError, match="uint8"):
        opencv_cubic_resize(image.astype(np.float32), (5, 5))


def test_opencv_cubic_resize_matches_opencv_where_installed():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not a dependency; compared only where "
                                            "it happens to be installed")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (368, 495, 3), dtype=np.uint8)
    expected = cv2.resize(image, (256, 256), interpolation=cv2.INTER_CUBIC)
    got = opencv_cubic_resize(image, (256, 256))
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert (got != expected).mean() < 1e-4


def test_authors_spec_images_on_the_sample(mudestreda_dir):
    from PIL import Image

    root = mudestreda_dir / "dataset_original"
    ids = ["T1R2B1", "T3R13B2"]
    paths = [[root / f"spec{axis}" / f"{i}.png" for i in ids] for axis in "XYZ"]
    x = authors_spec_images(*paths)
    assert x.shape == (2, 256, 256, 9) and x.dtype == np.float32
    assert x.max() == 1.0 and x.min() >= 0.0
    # The first pixel holds the first three BGR pixels of the resized specX, divided by the max.
    with Image.open(paths[0][0]) as image:
        bgr = np.asarray(image.convert("RGB"))[..., ::-1]
    resized = opencv_cubic_resize(bgr, (256, 256)).astype(np.float32)
    scale = max(opencv_cubic_resize(np.asarray(Image.open(p).convert("RGB"))[..., ::-1],
                                    (256, 256)).max() for axis in paths for p in axis)
    np.testing.assert_allclose(x[0, 0, 0], resized[0, 0:3].ravel() / scale)
    with pytest.raises(ValueError, match="one of each"):
        authors_spec_images(paths[0], paths[1][:1], paths[2])
