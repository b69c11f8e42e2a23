"""Device equalisation: the layer, its band statistics, and adapting a model to a device
whose recordings carry another frequency response."""

import keras
import numpy as np
import pytest

from minape_tf import SeriesGroup, build_minape
from minape_tf.data import Source
from minape_tf.adaptation.frequency_response import (band_means, band_statistics,
                                               equalization_layers, set_reference)
from minape_tf.adaptation.frequency_response import set_device as adapt_equalization
from minape_tf.adaptation.per_group import adapted_probabilities
from minape_tf.layers.equalization import DeviceEqualization

EPS = 1e-6
GROUP = SeriesGroup("s", channels=1, sample_rate=8000, length=1024, n_fft=256, hop=128,
                    n_mels=8, equalize=True)


def _power(rng, n, shape, padded=2):
    """Mel powers of ``n`` observations, well above ``EPS``, the last frames zero padding."""
    power = rng.uniform(0.1, 1.0, (n, *shape))
    power[:, shape[0] - padded:] = 0.0
    return power


def _log(power):
    return np.log10(power + EPS).astype("float32")


@pytest.mark.backend
def test_the_layer_passes_its_input_through_then_scales_each_bands_power():
    rng = np.random.default_rng(0)
    power = _power(rng, 3, (9, 8, 2))
    layer = DeviceEqualization(eps=EPS)
    out = keras.ops.convert_to_numpy(layer(_log(power)))
    np.testing.assert_allclose(out, _log(power), atol=1e-5)        # built: the identity
    gain = rng.uniform(-1.0, 1.0, (8, 2)).astype("float32")
    layer.reference.assign(gain)
    layer.device.assign(np.zeros((8, 2), "float32"))
    out = keras.ops.convert_to_numpy(layer(_log(power)))
    np.testing.assert_allclose(out, _log(power * 10.0 ** gain), atol=1e-4)
    np.testing.assert_allclose(out[:, -2:], np.log10(EPS), atol=1e-5)  # padding stays silent


def test_band_statistics_average_the_loud_frames_of_each_observation():
    power = np.array([[1.0, 2.0, 3.0, 4.0],          # frames x 4 bands: loud
                      [2.0, 2.0, 2.0, 2.0],          # loud
                      [1e-5] * 4,                    # 54 dB below the loudest: left out
                      [0.0] * 4])[None, :, :, None]  # padding: left out
    sums, counts = band_statistics(_log(power), EPS, floor_db=40.0)
    assert counts.tolist() == [[2]]
    np.testing.assert_allclose(band_means(sums, counts)[:, 0],
                               (np.log10([1, 2, 3, 4]) + np.log10(2)) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="silent"):
        band_means(*band_statistics(_log(np.zeros((1, 3, 4, 1))), EPS))


def test_adapting_removes_a_devices_frequency_response():
    rng = np.random.default_rng(1)
    power = _power(rng, 20, GROUP.feature_shape)
    colour = 10.0 ** rng.uniform(-1.0, 1.0, (GROUP.n_mels, 1))   # the new device's response
    x, coloured = _log(power), _log(power * colour)
    model = build_minape([GROUP], 3, width=8, depth=1, patch_size=1, kernel_size=3)
    (layer,) = equalization_layers(model)
    assert set_reference(model, [{"s": x}])
    np.testing.assert_allclose(layer.device.numpy(), layer.reference.numpy())
    features = keras.Model(model.input, layer.output)
    np.testing.assert_allclose(features.predict({"s": x}, verbose=0), x, atol=1e-5)
    assert np.abs(features.predict({"s": coloured}, verbose=0) - x).max() > 0.5

    assert adapt_equalization(model, [({"s": coloured}, None)])      # labels ignored
    np.testing.assert_allclose(features.predict({"s": coloured}, verbose=0), x, atol=1e-3)
    saved = model.get_weights()
    np.testing.assert_allclose(model.predict({"s": coloured}, verbose=0),
                               _reset(model, x).predict({"s": x}, verbose=0), atol=1e-4)
    model.set_weights(saved)


def _reset(model, x):
    """``model`` equalised back to the reference device (its training data ``x``)."""
    adapt_equalization(model, [{"s": x}])
    return model


def test_adapted_evaluation_equalises_each_group_and_puts_the_model_back():
    rng = np.random.default_rng(2)
    power = _power(rng, 12, GROUP.feature_shape)
    colour = 10.0 ** rng.uniform(-1.0, 1.0, (GROUP.n_mels, 1))
    inputs = np.concatenate([_log(power), _log(power * colour)])   # dev0, then dev1 coloured
    source = Source(inputs={"s": [("unused",)] * 24}, labels=np.zeros(24, np.int64),
                    classes=["a", "b", "c"], ids=[str(i) for i in range(24)],
                    split_keys=np.array(["dev0"] * 12 + ["dev1"] * 12))
    model = build_minape([GROUP], 3, width=8, depth=1, patch_size=1, kernel_size=3)
    set_reference(model, [{"s": inputs[:12]}])
    (layer,) = equalization_layers(model)
    device = layer.device.numpy()

    def make_data(subset):
        return [{"s": inputs[[int(i) for i in subset.ids]]}]

    def predict(model, data):
        return model.predict(data[0], verbose=0), None

    adapted = adapted_probabilities(model, source, make_data, predict)
    # dev1's recordings are dev0's through another response: equalised, the same inputs,
    # so the same batch-norm statistics and the same predictions.
    np.testing.assert_allclose(adapted[12:], adapted[:12], atol=1e-4)
    assert np.abs(model.predict({"s": inputs[12:]}, verbose=0)
                  - model.predict({"s": inputs[:12]}, verbose=0)).max() > 1e-3
    np.testing.assert_array_equal(layer.device.numpy(), device)      # put back


def test_a_group_says_whether_it_equalises():
    with pytest.raises(ValueError, match="equalize='yes'"):
        SeriesGroup("s", equalize="yes")
    plain = build_minape([SeriesGroup("s", channels=1, sample_rate=8000, length=1024,
                                      n_fft=256, hop=128, n_mels=8)], 3, width=8, depth=1,
                         patch_size=1, kernel_size=3)
    assert equalization_layers(plain) == []
    assert not set_reference(plain, [])


@pytest.mark.slow
def test_minape_adapt_saves_the_devices_equalisation(fsdd_dir, tmp_path):
    from minape_tf.data import make_dataset
    from minape_tf.deploy.adapted import adapt
    from minape_tf.models.saving import load_minape
    from minape_tf.deploy.predictor import files_source
    from minape_tf.adaptation.frequency_response import measured_means

    group = SeriesGroup("audio", channels=1, sample_rate=8000, source_rate=8000, length=6000,
                        n_fft=256, hop=128, n_mels=24, normalize="peak", equalize=True,
                        inputs=("audio",))

    def data(speaker):
        files = sorted(str(p) for p in (fsdd_dir / "recordings").glob(f"*_{speaker}_[12].wav"))
        return files, make_dataset(files_source([group], files), [group], training=False,
                                   batch_size=8, cache=False, augment=False)

    model = build_minape([group], 10, width=8, depth=1, patch_size=4, kernel_size=3)
    set_reference(model, data("jackson")[1])                 # "trained" on jackson
    model.save(tmp_path / "m.keras")
    george, george_data = data("george")
    info = adapt(tmp_path / "m.keras", george, out=tmp_path / "adapted")
    assert info["observations"] == 20
    (layer,) = equalization_layers(load_minape(tmp_path / "adapted")[0])
    (expected,) = measured_means(model, george_data)
    np.testing.assert_allclose(layer.device.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(layer.reference.numpy(),
                               equalization_layers(model)[0].reference.numpy())
    assert np.abs(layer.device.numpy() - layer.reference.numpy()).max() > 0.1
