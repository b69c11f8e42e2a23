"""The log-Mel and level layers against librosa, on every backend (KERAS_BACKEND=jax too)."""

import keras
import librosa
import numpy as np
import pytest
import soundfile as sf

from minape_tf.layers.level import LevelNormalization
from minape_tf.layers.logmel import LogMel
from minape_tf.layers.mel import mel_filters

pytestmark = pytest.mark.backend  # also run under KERAS_BACKEND=jax by .ci/run

CONFIGS = [(8000, 256, 128, 32, 0.0, None), (8000, 512, 160, 64, 0.0, None),
           (16000, 1024, 512, 64, 0.0, None), (10000, 1024, 512, 64, 30.0, 4000.0)]


@pytest.mark.parametrize("sr,n_fft,hop,n_mels,fmin,fmax", CONFIGS)
def test_mel_filters_equal_librosa(sr, n_fft, hop, n_mels, fmin, fmax):
    ours = mel_filters(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7)


def _fit(y, length):
    return np.pad(y, (0, max(0, length - len(y))))[:length]


@pytest.mark.parametrize("sr,n_fft,hop,n_mels,fmin,fmax", CONFIGS)
def test_logmel_equals_librosa_on_fsdd(fsdd_files, sr, n_fft, hop, n_mels, fmin, fmax):
    length = 8000
    signals = []
    for path in fsdd_files:
        y, file_sr = sf.read(path, dtype="float32")
        assert file_sr == 8000
        signals.append(_fit(y, length))
    x = np.stack(signals)  # (files, length): a batch, and also channels below
    layer = LogMel(sr, n_fft, hop, n_mels, fmin=fmin, fmax=fmax)
    batch = keras.ops.convert_to_numpy(layer(x[:, :, None]))
    chans = keras.ops.convert_to_numpy(layer(x.T[None]))  # one observation, 6 channels
    frames = 1 + (length - n_fft) // hop
    assert batch.shape == (len(x), frames, n_mels, 1)
    assert chans.shape == (1, frames, n_mels, len(x))
    for k, y in enumerate(signals):
        ref = np.log10(librosa.feature.melspectrogram(
            y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmin=fmin, fmax=fmax,
            center=False) + 1e-6).T
        assert np.max(np.abs(batch[k, :, :, 0] - ref)) <= 1e-4
        assert np.max(np.abs(chans[0, :, :, k] - ref)) <= 1e-4


def test_logmel_from_group_config_and_serialization():
    from minape_tf.groups import SeriesGroup

    g = SeriesGroup("force", channels=3, sample_rate=10000, length=4096, n_fft=512, hop=256,
                    n_mels=40, fmin=20.0, fmax=4000.0, eps=1e-5)
    layer = LogMel.from_group(g)
    assert (layer.sample_rate, layer.n_fft, layer.hop, layer.n_mels) == (10000, 512, 256, 40)
    assert (layer.fmin, layer.fmax, layer.eps) == (20.0, 4000.0, 1e-5)
    x = np.random.default_rng(0).standard_normal((2, g.length, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, *g.feature_shape)
    assert layer.compute_output_shape((None, g.length, 3)) == (None, *g.feature_shape)
    assert not layer.trainable_weights
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, LogMel) and clone.get_config() == layer.get_config()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), y, atol=1e-6)


def test_logmel_inside_a_saved_model_gives_the_same_numbers(tmp_path):
    inputs = keras.Input((4000, 2))
    out = LogMel(8000, 256, 128, 32)(LevelNormalization("rms")(inputs))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(1).standard_normal((3, 4000, 2)).astype("float32") * 0.1
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


@pytest.mark.parametrize("mode", ["peak", "rms", None])
def test_level_normalization(mode):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 1000, 3)).astype("float32")
    x *= np.array([1.0, 0.1, 10.0], dtype="float32")  # levels differ per channel
    y = keras.ops.convert_to_numpy(LevelNormalization(mode)(x))
    if mode is None:
        np.testing.assert_array_equal(y, x)
    elif mode == "peak":
        np.testing.assert_allclose(np.abs(y).max(axis=1), 1.0, rtol=1e-5)
    else:
        np.testing.assert_allclose(np.sqrt((y ** 2).mean(axis=1)), 1.0, rtol=1e-4)
    zeros = keras.ops.convert_to_numpy(LevelNormalization(mode)(np.zeros((1, 10, 1), "float32")))
    assert np.all(zeros == 0)
    layer = LevelNormalization(mode, eps=1e-6)
    assert LevelNormalization.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="mode"):
        LevelNormalization("max")


def test_level_normalization_makes_logmel_level_invariant():
    x = np.random.default_rng(3).standard_normal((1, 2048, 1)).astype("float32")
    f = lambda s: keras.ops.convert_to_numpy(  # noqa: E731
        LogMel(8000, 256, 128, 16)(LevelNormalization("peak")(s)))
    np.testing.assert_allclose(f(x * 0.05), f(x), atol=1e-4)
