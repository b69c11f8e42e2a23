"""In-graph polyphase resampling against scipy.signal.resample_poly.

Tolerance: at most 1e-5 of the signal's peak absolute value (float32 taps and
accumulation against scipy's float64); measured errors are about 2e-7.
"""

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from scipy.signal import resample_poly

from minape_tf.layers.resample import fit_length, ratio, resample, resampled_length

TOL = 1e-5
RATES = [(8000, 16000), (16000, 8000), (44100, 16000), (10000, 8000), (8000, 22050),
         (48000, 44100), (8000, 8000)]


@pytest.mark.parametrize("source_rate,target_rate", RATES)
@pytest.mark.parametrize("n", [1, 7, 1001])
def test_resample_equals_scipy_resample_poly(source_rate, target_rate, n):
    x = np.random.default_rng(n).standard_normal((n, 2)).astype(np.float32)
    up, down = ratio(source_rate, target_rate)
    ref = resample_poly(x.astype(np.float64), up, down, axis=0)
    out = resample(x, source_rate, target_rate).numpy()
    assert out.shape == ref.shape == (resampled_length(n, source_rate, target_rate), 2)
    assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(x))


@pytest.mark.parametrize("source_rate,target_rate", RATES[:4])
def test_resample_with_length_computes_the_same_prefix(source_rate, target_rate):
    x = np.random.default_rng(0).standard_normal((3000, 1)).astype(np.float32)
    full = resample(x, source_rate, target_rate).numpy()
    for length in (1, 100, len(full) - 3, len(full) + 50):
        part = resample(x, source_rate, target_rate, length=length).numpy()
        assert len(part) == min(length, len(full))
        np.testing.assert_allclose(part, full[:len(part)], atol=1e-6)


@pytest.mark.parametrize("target_rate", [16000, 22050, 6000])
def test_resample_real_fsdd_recordings(fsdd_files, target_rate):
    fn = tf.function(lambda x: resample(x, 8000, target_rate),
                     input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    for path in fsdd_files[:3]:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
        up, down = ratio(sr, target_rate)
        ref = resample_poly(y.astype(np.float64), up, down, axis=0)
        out = fn(y).numpy()  # traced once with an unknown length
        assert out.shape == ref.shape
        assert np.max(np.abs(out - ref)) <= TOL * np.max(np.abs(y))


def test_downsampling_is_band_limited():
    sr = 16000
    t = np.arange(sr) / sr
    low, high = np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 6000 * t)
    out = resample((low + high)[:, None].astype(np.float32), sr, 8000).numpy()[:, 0]
    expect = np.sin(2 * np.pi * 500 * np.arange(8000) / 8000)
    # 6 kHz is above the new Nyquist (4 kHz): it must be filtered out, not aliased to 2 kHz.
    assert np.max(np.abs(out[200:-200] - expect[200:-200])) < 0.01


def test_fit_length_trims_and_pads():
    x = tf.ones((5, 2))
    assert fit_length(x, 3).shape == (3, 2)
    padded = fit_length(x, 8).numpy()
    assert padded.shape == (8, 2) and padded[:5].sum() == 10 and not padded[5:].any()
