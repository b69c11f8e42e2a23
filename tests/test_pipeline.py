"""make_dataset: decoding, resizing, resampling, features, caching, shuffling, augmentation."""

import keras
import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from scipy.signal import resample_poly

from minape_tf.data import Source, load_observations, make_dataset
from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.layers.level import LevelNormalization
from minape_tf.layers.logmel import LogMel


def _src(inputs, n, classes=("a", "b")):
    return Source(inputs=inputs, labels=np.arange(n) % len(classes), classes=list(classes),
                  ids=[f"obs{i}" for i in range(n)])


def _first(ds):
    x, y = next(iter(ds))
    return {k: v.numpy() for k, v in x.items()}, y.numpy()


def _all(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append({k: v.numpy() for k, v in x.items()})
        ys.append(y.numpy())
    return {k: np.concatenate([x[k] for x in xs]) for k in xs[0]}, np.concatenate(ys)


def test_image_files_decoded_resized_scaled(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgba).save(tmp_path / "b.png")
    Image.fromarray(gray).save(tmp_path / "c.png")
    yy, xx = np.mgrid[0:20, 0:30]
    smooth = np.stack([yy * 12, xx * 8, 255 - xx * 8], -1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "d.jpg", quality=95)
    g = ImageGroup("img", channels=6, size=(20, 30))  # same size: no interpolation
    src = _src({"img": [(str(tmp_path / "a.png"), str(tmp_path / "b.png")),
                        (str(tmp_path / "d.jpg"), str(tmp_path / "a.png"))]}, 2)
    x, y = _first(make_dataset(src, [g], training=False, batch_size=2))
    assert x["img"].shape == (2, 20, 30, 6) and x["img"].dtype == np.float32
    np.testing.assert_allclose(x["img"][0, :, :, :3], rgb / 255.0, atol=1e-6)
    np.testing.assert_allclose(x["img"][0, :, :, 3:], rgba[:, :, :3] / 255.0, atol=1e-6)
    assert np.abs(x["img"][1, :, :, :3] - smooth / 255.0).mean() < 0.02  # JPEG is lossy
    np.testing.assert_array_equal(y, [0, 1])

    small = ImageGroup("img", channels=1, size=(10, 10))
    x, _ = _first(make_dataset(_src({"img": [(str(tmp_path / "c.png"),)]}, 1), [small],
                               training=False))
    assert x["img"].shape == (1, 10, 10, 1) and 0 <= x["img"].min() and x["img"].max() <= 1
    assert abs(x["img"].mean() - gray.mean() / 255.0) < 0.02


def test_keep_aspect_pads_instead_of_stretching():
    wide = np.ones((10, 40, 3), np.float32)
    g = ImageGroup("img", channels=3, size=(40, 40), keep_aspect=True)
    x, _ = _first(make_dataset(_src({"img": [(wide,)]}, 1), [g], training=False))
    rows = x["img"][0, :, :, 0].max(axis=1)
    assert rows[20] == pytest.approx(1.0) and rows[0] == 0 and rows[-1] == 0
    stretched = ImageGroup("img", channels=3, size=(40, 40))
    x, _ = _first(make_dataset(_src({"img": [(wide,)]}, 1), [stretched], training=False))
    assert x["img"].min() == pytest.approx(1.0)


def test_series_readers_resample_and_trim(tmp_path):
    rng = np.random.default_rng(1)
    sig = [rng.standard_normal((n, 3)).astype(np.float32) * 0.3 for n in (900, 1500)]
    np.save(tmp_path / "s0.npy", sig[0])
    np.save(tmp_path / "s1.npy", sig[1])  # (samples, channels), as documented
    with open(tmp_path / "s2.csv", "w") as f:  # columns out of order, plus a time column
        f.write("t,Fz,Fx,Fy\n")
        for i, (a, b, c) in enumerate(sig[0]):
            f.write(f"{i},{float(c)!r},{float(a)!r},{float(b)!r}\n")
    sf.write(tmp_path / "s3.wav", sig[1], 4000, subtype="FLOAT")  # soundfile fallback
    g = SeriesGroup("force", channels=3, sample_rate=6000, source_rate=4000, length=1600,
                    n_fft=256, hop=128, n_mels=16, inputs=("Fx", "Fy", "Fz"))
    items = [(str(tmp_path / f),) for f in ("s0.npy", "s1.npy", "s2.csv", "s3.wav")]
    x, _ = _all(make_dataset(_src({"force": items}, 4), [g], training=False, features_in_model=True))
    assert x["force"].shape == (4, 1600, 3)
    for k, s in enumerate([sig[0], sig[1], sig[0], sig[1]]):
        ref = resample_poly(s.astype(np.float64), 3, 2, axis=0)[:1600]
        ref = np.pad(ref, ((0, 1600 - len(ref)), (0, 0)))
        assert np.max(np.abs(x["force"][k] - ref)) <= 1e-5


def test_pcm16_wav_read_by_tf_audio_equals_soundfile(fsdd_files):
    g = SeriesGroup("audio", channels=1, sample_rate=8000, length=8000, n_fft=256, hop=128,
                    n_mels=32)
    x, _ = _all(make_dataset(_src({"audio": [(f,) for f in fsdd_files]}, len(fsdd_files)),
                             [g], training=False, features_in_model=True, batch_size=4))
    for k, f in enumerate(fsdd_files):
        y, _ = sf.read(f, dtype="float32")
        y = np.pad(y, (0, max(0, 8000 - len(y))))[:8000]
        np.testing.assert_allclose(x["audio"][k, :, 0], y, atol=1e-6)


@pytest.mark.parametrize("normalize", [None, "peak", "rms"])
def test_pipeline_features_equal_in_model_features(fsdd_files, normalize):
    g = SeriesGroup("audio", channels=1, sample_rate=16000, source_rate=8000, length=12000,
                    n_fft=512, hop=160, n_mels=40, normalize=normalize)
    src = _src({"audio": [(f,) for f in fsdd_files]}, len(fsdd_files))
    feats, _ = _all(make_dataset(src, [g], training=False, batch_size=4))
    raw, _ = _all(make_dataset(src, [g], training=False, batch_size=4, features_in_model=True))
    inputs = keras.Input((g.length, g.channels))
    model = keras.Model(inputs, LogMel.from_group(g)(LevelNormalization(g.normalize)(inputs)))
    in_model = model.predict(raw["audio"], verbose=0)
    assert feats["audio"].shape == in_model.shape == (len(fsdd_files), *g.feature_shape)
    assert np.max(np.abs(feats["audio"] - in_model)) <= 1e-5
    one = load_observations({"audio": (fsdd_files[2],)}, [g])
    np.testing.assert_allclose(one["audio"][0], feats["audio"][2], atol=1e-5)


def test_training_shuffles_augments_and_is_reproducible():
    n = 12
    series = [np.full((2048, 1), 0.1 * (i + 1), np.float32)
              + np.random.default_rng(i).standard_normal((2048, 1)).astype(np.float32) * 0.01
              for i in range(n)]
    images = [np.full((8, 8, 3), i / n, np.float32) for i in range(n)]
    groups = [SeriesGroup("s", channels=1, sample_rate=1000, length=2048, n_fft=256, hop=128,
                          n_mels=8), ImageGroup("im", channels=3, size=(8, 8))]
    src = Source(inputs={"s": [(a,) for a in series], "im": [(a,) for a in images]},
                 labels=np.arange(n), classes=[str(i) for i in range(n)],
                 ids=[str(i) for i in range(n)])
    plain, y_plain = _all(make_dataset(src, groups, training=False, batch_size=5))
    np.testing.assert_array_equal(y_plain, np.arange(n))
    nocache, _ = _all(make_dataset(src, groups, training=False, batch_size=5, cache=False))
    np.testing.assert_array_equal(plain["s"], nocache["s"])

    ds = make_dataset(src, groups, training=True, batch_size=5, seed=3, augment={"s": True})
    e1, y1 = _all(ds)
    e2, y2 = _all(ds)
    assert sorted(y1) == list(range(n)) and not np.array_equal(y1, y2)  # reshuffled
    again, y_again = _all(make_dataset(src, groups, training=True, batch_size=5, seed=3,
                                       augment={"s": True}))
    np.testing.assert_array_equal(y_again, y1)
    np.testing.assert_array_equal(again["s"], e1["s"])
    # Images not augmented here: each still matches its label.
    np.testing.assert_allclose(e1["im"][:, 0, 0, 0], y1 / n, atol=1e-6)
    # Series augmented: changed, same shape, same observation (gain <= 6 dB, masks).
    assert e1["s"].shape == plain["s"].shape
    assert not np.allclose(e1["s"], plain["s"][y1])
    diff = np.abs(e1["s"] - plain["s"][y1])
    assert np.median(diff) < np.log10(10 ** 1.2) + 1e-3

    aug, y_aug = _all(make_dataset(src, groups, training=True, batch_size=5, seed=3))
    assert aug["im"].shape == (n, 8, 8, 3) and 0 <= aug["im"].min() and aug["im"].max() <= 1


def test_raw_training_augmentation_keeps_shape():
    src = _src({"s": [(np.ones((500, 2), np.float32),)] * 4}, 4)
    g = SeriesGroup("s", channels=2, sample_rate=100, length=400, n_fft=64, hop=32, n_mels=4)
    x, _ = _all(make_dataset(src, [g], training=True, features_in_model=True, batch_size=4))
    assert x["s"].shape == (4, 400, 2)
    assert np.all((x["s"] == 0) | (x["s"] > 0.4))  # gain within +-6 dB, masks are zeros


def test_image_arrays_mix_gray_rgb_rgba_like_files(tmp_path):
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (9, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    arrays = [gray, gray[..., None], rgb, rgba]
    for k, a in enumerate(arrays):
        Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a).save(
            tmp_path / f"{k}.png")
    files = [(str(tmp_path / f"{k}.png"),) for k in range(4)]
    for channels in (3, 1):
        g = ImageGroup("img", channels=channels, size=(9, 7))
        from_arrays, _ = _first(make_dataset(_src({"img": [(a,) for a in arrays]}, 4), [g],
                                             training=False, batch_size=4))
        from_files, _ = _first(make_dataset(_src({"img": files}, 4), [g], training=False,
                                            batch_size=4))
        assert from_arrays["img"].shape == from_files["img"].shape == (4, 9, 7, channels)
        np.testing.assert_allclose(from_arrays["img"], from_files["img"], atol=1e-5)
    g3 = ImageGroup("img", channels=3, size=(9, 7))
    x, _ = _first(make_dataset(_src({"img": [(gray,)]}, 1), [g3], training=False))
    np.testing.assert_allclose(x["img"][0], np.repeat(gray[..., None], 3, -1) / 255,
                               atol=1e-6)  # gray replicated
    g1 = ImageGroup("img", channels=1, size=(9, 7))
    x, _ = _first(make_dataset(_src({"img": [(rgb,)]}, 1), [g1], training=False))
    lum = rgb @ np.array([0.2989, 0.5870, 0.1140]) / 255  # tf.image.rgb_to_grayscale
    np.testing.assert_allclose(x["img"][0, ..., 0], lum, atol=1e-5)
