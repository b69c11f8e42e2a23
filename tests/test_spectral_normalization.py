"""Spectral normalisation (mean/variance, per band, PCEN) and the series augmentation.

The layers equal their numpy / librosa references, survive a .keras round trip inside a
model that computes its own features, and come after the augmentation in the pipeline.
"""

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from minape_tf import SeriesGroup, build_minape
from minape_tf.data import Source, make_dataset
from minape_tf.data.augment import SeriesAugmentation, augment_logmel
from minape_tf.layers import PCEN, LogMel, SpectralNormalization
from minape_tf.layers.spectral_normalization import pcen_smoothing


def _logmel(rng, shape=(2, 40, 16, 3)):
    power = rng.gamma(1.0, 2.0, size=shape) * np.exp(rng.normal(0, 2, (shape[0], 1, shape[2], 1)))
    return np.log10(power + 1e-6).astype("float32")


@pytest.mark.parametrize("mode,axes", [("mean_var", (1, 2)), ("band", (1,))])
def test_spectral_normalization_equals_numpy(mode, axes):
    x = _logmel(np.random.default_rng(0))
    y = keras.ops.convert_to_numpy(SpectralNormalization(mode)(x))
    x64 = x.astype("float64")
    mean = x64.mean(axis=axes, keepdims=True)
    expected = (x64 - mean) / (x64.std(axis=axes, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, atol=2e-5)
    # A new recorder's gain is a constant offset of the log-Mel: it is removed.
    shifted = keras.ops.convert_to_numpy(SpectralNormalization(mode)(x + 1.5))
    np.testing.assert_allclose(shifted, y, atol=2e-5)


def test_pcen_equals_librosa_on_real_recordings(fsdd_files):
    import soundfile as sf

    waves = [np.pad(sf.read(f, dtype="float32")[0], (0, 8000))[:8000] for f in fsdd_files]
    x = keras.ops.convert_to_numpy(LogMel(8000, 256, 128, 32)(np.stack(waves)[..., None]))
    layer = PCEN(8000, 128)
    y = keras.ops.convert_to_numpy(layer(x))
    for k in range(len(waves)):
        mel = (10.0 ** x[k, :, :, 0].astype("float64") - 1e-6).T      # (n_mels, frames)
        expected = librosa.pcen(mel, sr=8000, hop_length=128, zi=(1 - layer.b) * mel[:, :1])
        np.testing.assert_allclose(y[k, :, :, 0], expected.T, atol=1e-4, rtol=1e-4)


def test_pcen_smoothing_is_the_iir_filter():
    rng = np.random.default_rng(1)
    e, b = rng.random(12), 0.3
    m, previous = [], e[0]
    for value in e:
        previous = b * value + (1 - b) * previous
        m.append(previous)
    np.testing.assert_allclose(pcen_smoothing(12, b) @ e, m, rtol=1e-6)


@pytest.mark.parametrize("norm", ["mean_var", "band", "pcen"])
def test_model_with_features_inside_keeps_the_normalisation(tmp_path, norm):
    g = SeriesGroup("audio", channels=1, sample_rate=8000, length=4096, n_fft=256, hop=128,
                    n_mels=16, normalize="peak", spectral_norm=norm)
    model = build_minape([g], 3, width=8, depth=1, patch_size=4, kernel_size=3,
                         features_in_model=True)
    assert any(layer.name == f"audio_{norm}" for layer in model.layers)
    wave = np.random.default_rng(0).standard_normal((4, 4096, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(wave, verbose=0), model.predict(wave, verbose=0),
                               atol=1e-6)
    # The pipeline's features (normalised after its cache) equal the model's own.
    src = Source(inputs={"audio": [(w,) for w in wave]}, labels=np.zeros(4, np.int64),
                 classes=["a"], ids=list("abcd"))
    feats = next(iter(make_dataset(src, [g], training=False, batch_size=4)))[0]["audio"]
    inner = keras.Model(model.inputs, model.get_layer(f"audio_{norm}").output)
    np.testing.assert_allclose(feats.numpy(), inner.predict(wave, verbose=0), atol=1e-4)


def test_group_rejects_an_unknown_spectral_norm():
    with pytest.raises(ValueError, match="spectral_norm='cmvn'"):
        SeriesGroup("a", spectral_norm="cmvn")


def test_training_batches_are_normalised_after_augmentation():
    rng = np.random.default_rng(0)
    waves = [(rng.standard_normal((2048, 1)) * (i + 1)).astype("float32") for i in range(8)]
    src = Source(inputs={"s": [(w,) for w in waves]}, labels=np.arange(8) % 2,
                 classes=["a", "b"], ids=[str(i) for i in range(8)],
                 split_keys=np.array(["d0", "d1"] * 4), order=np.arange(8))
    g = SeriesGroup("s", channels=1, sample_rate=1000, length=2048, n_fft=256, hop=128,
                    n_mels=8, spectral_norm="mean_var")
    strong = {"gain_db": 20, "stretch": 0.2, "warp": 0.2, "shift": 0.3,
              "noise_snr_db": [0, 10]}
    for length in (1, 2):
        x, _ = next(iter(make_dataset(src, [g], training=True, batch_size=8,
                                      sequence_length=length, augmentation=strong)))
        spec = x["s"].numpy().reshape(-1, *g.feature_shape)
        np.testing.assert_allclose(spec.mean(axis=(1, 2, 3)), 0, atol=1e-4)
        np.testing.assert_allclose(spec.std(axis=(1, 2, 3)), 1, atol=0.05)  # eps 1e-3


def test_augmentation_steps_keep_shape_and_are_off_at_zero():
    spec = tf.constant(_logmel(np.random.default_rng(2), (1, 30, 12, 2))[0])
    seed = tf.constant([3, 4], tf.int64)
    off = SeriesAugmentation(gain_db=0, time_masks=0, freq_masks=0)
    np.testing.assert_allclose(augment_logmel(spec, seed, 1e-6, off).numpy(), spec.numpy(),
                               atol=1e-4)
    for step in ({"stretch": 0.3}, {"warp": 0.3}, {"shift": 0.3}, {"noise_snr_db": [0, 0]}):
        changed = 0
        for k in range(6):  # a draw near 1 (stretch, warp) or 0 (shift) changes nothing
            out = augment_logmel(spec, seed + k, 1e-6, {**vars(off), **step}).numpy()
            assert out.shape == spec.shape and np.all(np.isfinite(out))
            changed += not np.allclose(out, spec.numpy(), atol=1e-3)
        assert changed >= 3, step
    # Noise at 0 dB SNR doubles the mean power.
    noisy = augment_logmel(spec, seed, 1e-6, {**vars(off), "noise_snr_db": [0, 0]}).numpy()
    power = 10.0 ** spec.numpy().astype("float64") - 1e-6
    np.testing.assert_allclose((10.0 ** noisy - 1e-6).mean(), 2 * power.mean(), rtol=1e-3)


def test_equalisation_is_one_smooth_curve_over_the_bands():
    # Loud enough that eps (1e-6) does not matter: the log-Mel changes by the same curve
    # in every frame and channel, bounded by eq_db * (1 + 1/2 + 1/3) dB, and smooth.
    spec = tf.constant(_logmel(np.random.default_rng(3), (1, 30, 24, 2))[0] + 3.0)
    off = SeriesAugmentation(gain_db=0, time_masks=0, freq_masks=0)
    curves = []
    for k in range(5):
        out = augment_logmel(spec, tf.constant([5, k], tf.int64), 1e-6,
                             {**vars(off), "eq_db": 12.0}).numpy()
        change_db = 10 * (out - spec.numpy())
        np.testing.assert_allclose(change_db, change_db[:1, :, :1] + 0 * change_db, atol=1e-2)
        curve = change_db[0, :, 0]
        assert np.abs(curve).max() <= 12.0 * (1 + 1 / 2 + 1 / 3) + 1e-3
        assert np.abs(np.diff(curve, 2)).max() < 0.1 * np.ptp(curve) + 1e-3  # no jumps
        curves.append(curve)
    assert np.ptp(curves, axis=0).max() > 3.0  # each draw another response


def test_shift_moves_the_frames():
    spec = np.full((20, 4, 1), -6.0, "float32")
    spec[5] = 1.0
    seed = tf.constant([0, 0], tf.int64)
    moved = set()
    for k in range(20):
        out = augment_logmel(tf.constant(spec), seed + k, 1e-6,
                             SeriesAugmentation(gain_db=0, time_masks=0, freq_masks=0,
                                                shift=0.25)).numpy()
        rows = np.flatnonzero(out[:, 0, 0] > 0)
        assert len(rows) == 1 and abs(rows[0] - 5) <= 5
        moved.add(int(rows[0]))
    assert len(moved) > 3


@pytest.mark.parametrize("bad,match", [({"stretch": 1.5}, "stretch"), ({"warp": -0.1}, "warp"),
                                       ({"noise_snr_db": [30, 10]}, "noise_snr_db"),
                                       ({"pitch": 0.1}, "pitch")])
def test_bad_augmentation_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        SeriesAugmentation.make(bad)
