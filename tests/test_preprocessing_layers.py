"""The group-owned preprocessing layers shared by the pipeline and the exported model."""

import keras
import numpy as np
import pytest
from scipy.signal import resample_poly

from minape_tf import ImageGroup, SeriesGroup
from minape_tf.layers.image_preprocessing import ImagePreprocessing
from minape_tf.layers.series_preprocessing import SeriesResampling


@pytest.mark.backend
def test_image_preprocessing_scales_by_pixel_type_and_resizes():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 30, 20, 3)).astype(np.uint8)
    layer = ImageGroup("img", channels=3, size=(16, 8)).preprocessing()
    from_uint8 = keras.ops.convert_to_numpy(layer(pixels))
    from_float = keras.ops.convert_to_numpy(layer(pixels.astype(np.float32) / 255))
    from_uint16 = keras.ops.convert_to_numpy(layer(pixels.astype(np.uint16) * 257))
    assert from_uint8.shape == (2, 16, 8, 3) and from_uint8.dtype == np.float32
    np.testing.assert_allclose(from_uint8, from_float, atol=1e-6)
    np.testing.assert_allclose(from_uint16, from_float, atol=1e-6)
    assert 0 <= from_uint8.min() and from_uint8.max() <= 1
    one = keras.ops.convert_to_numpy(layer(pixels[0]))
    np.testing.assert_allclose(one, from_uint8[0], atol=1e-6)
    again = ImagePreprocessing.from_config(layer.get_config())
    assert again.size == (16, 8) and not again.keep_aspect


def test_series_resampling_batched_equals_one_by_one_and_scipy():
    rng = np.random.default_rng(1)
    batch = rng.standard_normal((3, 1000, 2)).astype(np.float32)
    layer = SeriesGroup("s", channels=2, sample_rate=6000, source_rate=4000, length=1600,
                        n_fft=256, hop=128, n_mels=16).preprocessing()
    together = np.asarray(layer(batch))
    assert together.shape == (3, 1600, 2)
    for k in range(3):
        np.testing.assert_allclose(np.asarray(layer(batch[k])), together[k], atol=1e-6)
        ref = resample_poly(batch[k].astype(np.float64), 3, 2, axis=0)  # 1500 samples
        np.testing.assert_allclose(together[k, :1500], ref, atol=1e-5)
        assert not together[k, 1500:].any()  # zero-padded to the length
    with pytest.raises(ValueError, match="length=0"):
        SeriesResampling(4000, 6000, 0)
