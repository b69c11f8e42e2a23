"""Every kind of bad input gets an error naming the file or row and the problem, before a
dataset is built; with skip_bad=True the bad observations are left out, counted and listed."""

import shutil

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from minape_tf.data import (DataError, ImageGroup, SeriesGroup, Source, make_dataset, manifest,
                            mudestreda, validate)

AUDIO = SeriesGroup("audio", channels=1, sample_rate=8000, length=4000, n_fft=256, hop=128,
                    n_mels=16)
PHOTO = ImageGroup("photo", channels=3, size=(16, 16))


def _good_wav(path, n=3000, rate=8000):
    sf.write(path, 0.1 * np.sin(np.arange(n) / 5.0), rate, subtype="PCM_16")
    return str(path)


def _series_source(items):
    return Source(inputs={"audio": [(i,) for i in items]}, labels=np.zeros(len(items)),
                  classes=["x"], ids=[f"obs{k}" for k in range(len(items))])


def _expect(items, group, match):
    src = Source(inputs={group.name: [(i,) for i in items]}, labels=np.zeros(len(items)),
                 classes=["x"], ids=[f"obs{k}" for k in range(len(items))])
    with pytest.raises(DataError, match=match) as err:
        make_dataset(src, [group], training=True)  # the validation pass runs first
    return err.value


def test_truncated_wav(tmp_path, fsdd_files):
    data = open(fsdd_files[0], "rb").read()
    bad = tmp_path / "cut.wav"
    bad.write_bytes(data[:len(data) // 2])
    err = _expect([_good_wav(tmp_path / "ok.wav"), str(bad)], AUDIO, "truncated")
    assert str(bad) in str(err) and "'audio'" in str(err)
    assert len(err.problems) == 1


def test_missing_corrupt_and_empty_series(tmp_path):
    ok = _good_wav(tmp_path / "ok.wav")
    assert "file not found" in str(_expect([ok, str(tmp_path / "nope.wav")], AUDIO, "nope.wav"))
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    _expect([ok, str(tmp_path / "junk.wav")], AUDIO, r"junk\.wav.*not a RIFF")
    sf.write(tmp_path / "empty.wav", np.zeros(0), 8000, subtype="PCM_16")
    _expect([str(tmp_path / "empty.wav")], AUDIO, r"empty\.wav.*empty signal")
    np.save(tmp_path / "empty.npy", np.zeros((0, 1), np.float32))
    _expect([str(tmp_path / "empty.npy")], AUDIO, r"empty\.npy.*empty signal")
    (tmp_path / "x.flac").write_bytes(b"")
    _expect([str(tmp_path / "x.flac")], AUDIO, "unknown series file type")


def test_nan_and_inf_signals(tmp_path):
    x = np.random.default_rng(0).standard_normal((3000, 1)).astype(np.float32)
    x[100] = np.nan
    np.save(tmp_path / "nan.npy", x)
    _expect([str(tmp_path / "nan.npy")], AUDIO, r"nan\.npy.*NaN/Inf.*sample 100")
    with open(tmp_path / "inf.csv", "w") as f:
        f.write("a\n" + "\n".join(["0.5"] * 10 + ["inf"] + ["0.1"] * 3000))
    _expect([str(tmp_path / "inf.csv")], AUDIO, r"inf\.csv.*NaN/Inf")
    sf.write(tmp_path / "nan.wav", x, 8000, subtype="FLOAT")
    _expect([str(tmp_path / "nan.wav")], AUDIO, r"nan\.wav.*NaN/Inf")
    arr = np.ones(3000, np.float32)
    arr[5] = np.inf
    _expect([arr], AUDIO, r"observation 'obs0'.*NaN/Inf")


def test_wrong_channel_counts_and_rates(tmp_path):
    sf.write(tmp_path / "stereo.wav", np.zeros((3000, 2)), 8000, subtype="PCM_16")
    _expect([str(tmp_path / "stereo.wav")], AUDIO, r"stereo\.wav.*2 channels; expected 1")
    _expect([_good_wav(tmp_path / "r.wav", rate=16000)], AUDIO,
            r"r\.wav.*16000 Hz; expected 8000 Hz")
    np.save(tmp_path / "two.npy", np.zeros((3000, 2), np.float32))
    _expect([str(tmp_path / "two.npy")], AUDIO, r"two\.npy.*2 channels; expected 1")
    # Gray, gray+alpha, RGB and RGBA convert to 1 or 3 channels per input; other wanted
    # counts (2, 4, 6 from one file) must match, and the file is named.
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((10, 10, 4), np.uint8)).save(tmp_path / "rgba.png")
    images = [str(tmp_path / f) for f in ("gray.png", "rgb.png", "rgba.png")]
    for group in (PHOTO, PHOTO.replace(channels=1)):
        assert validate(_image_source(images, group.name), [group]).validated
    err = _expect([str(tmp_path / "rgb.png")], PHOTO.replace(channels=4),
                  r"rgb\.png.*'photo', input 0: 3 \(RGB\) channels; expected 4 \(RGBA\)")
    assert "other counts must match" in str(err)
    _expect([str(tmp_path / "gray.png")], PHOTO.replace(channels=2),
            r"gray\.png.*1 \(grayscale\) channels; expected 2")
    _expect([str(tmp_path / "rgba.png")], PHOTO.replace(channels=6),
            r"rgba\.png.*4 \(RGBA\) channels; expected 6")
    _expect([np.zeros((10, 10, 5), np.float32)], PHOTO, "observation 'obs0'.*5 channels")


def _image_source(items, name="photo"):
    return Source(inputs={name: [(i,) for i in items]}, labels=np.zeros(len(items)),
                  classes=["x"], ids=[f"obs{k}" for k in range(len(items))])


def test_integer_image_arrays_are_scaled_by_range_not_saturated():
    from minape_tf.data.decode import image_array

    np.testing.assert_allclose(image_array(np.full((2, 2), 128, np.int64)), 128 / 255)
    np.testing.assert_allclose(image_array(np.full((2, 2, 3), 40000, np.int32)), 40000 / 65535)
    np.testing.assert_allclose(image_array(np.full((2, 2), 200, np.uint16)), 200 / 65535)
    np.testing.assert_allclose(image_array(np.full((2, 2), 0.25, np.float64)), 0.25)
    with pytest.raises(DataError, match=r"image array: integer image of dtype int64 .*70000"):
        image_array(np.full((2, 2), 70000, np.int64))
    # Through the pipeline: 128 as int64 is 128/255, not 1.0; out-of-range arrays are
    # reported by the validation pass with the observation, group and input.
    group = ImageGroup("photo", channels=1, size=(4, 4))
    x, _ = next(iter(make_dataset(_image_source([np.full((4, 4), 128, np.int64)]), [group],
                                  training=False)))
    np.testing.assert_allclose(x["photo"].numpy(), 128 / 255, atol=1e-6)
    _expect([np.full((4, 4), 128, np.int64), np.full((4, 4), 1 << 20, np.int64)], group,
            r"observation 'obs1': group 'photo', input 0: integer image of dtype int64")
    _expect([np.full((4, 4), -3, np.int16)], group, r"int16 has values in \[-3, -3\]")


def test_corrupt_images(tmp_path, mudestreda_dir):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    _expect([str(tmp_path / "junk.png")], PHOTO, r"junk\.png.*corrupt")
    data = (mudestreda_dir / "dataset_original" / "tool" / "T1R2B1.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 3])
    _expect([str(tmp_path / "cut.jpg")], PHOTO, r"cut\.jpg.*corrupt or truncated")
    _expect([str(tmp_path / "none.jpg")], PHOTO, r"none\.jpg.*file not found")


def test_label_outside_classes():
    with pytest.raises(ValueError, match="obs1"):
        Source(inputs={"a": [(None,), (None,)]}, labels=[0, 3], classes=["x", "y"],
               ids=["obs0", "obs1"])


def _manifest(tmp_path, lines):
    wav = _good_wav(tmp_path / "a.wav")
    path = tmp_path / "m.csv"
    path.write_text("audio,label\n" + "\n".join(line.format(wav=wav) for line in lines) + "\n")
    return path


def test_manifest_bad_rows(tmp_path):
    path = _manifest(tmp_path, ["{wav},yes", "{wav},", "{wav},no"])
    with pytest.raises(DataError, match=r"m\.csv, line 3: missing value.*'label'"):
        manifest(path)
    path = _manifest(tmp_path, ["{wav},yes", "{wav},maybe"])
    with pytest.raises(DataError, match=r"line 3: label 'maybe' is not one of the classes"):
        manifest(path, classes=["yes", "no"])
    path = _manifest(tmp_path, ["{wav},yes", "{wav}"])
    with pytest.raises(DataError, match=r"line 3: 1 fields; the header has 2"):
        manifest(path)
    path = _manifest(tmp_path, ["{wav},yes", "missing.wav,no"])
    with pytest.raises(DataError, match=r"missing\.wav: group 'audio', input 0: file not found"):
        manifest(path)
    (tmp_path / "nolabel.csv").write_text("audio\nx.wav\n")
    with pytest.raises(DataError, match="no 'label' column"):
        manifest(tmp_path / "nolabel.csv")


def test_manifest_skip_bad(tmp_path):
    path = _manifest(tmp_path, ["{wav},yes", "{wav},", "missing.wav,no", "{wav},no",
                                "{wav},yes"])
    source, groups, splits = manifest(path, skip_bad=True, test_fraction=0.0,
                                      val_fraction=0.0)
    assert len(source) == 3 and len(source.skipped) == 2
    reasons = " | ".join(f"{w}: {r}" for w, r in source.skipped)
    assert "line 3" in reasons and "missing.wav" in reasons and "file not found" in reasons
    assert sorted(np.concatenate(list(splits.values())).tolist()) == [0, 1, 2]
    n = sum(int(y.shape[0]) for _, y in make_dataset(source, groups, training=False))
    assert n == 3


def _mudestreda_copy(mudestreda_dir, tmp_path):
    root = tmp_path / "mud"
    shutil.copytree(mudestreda_dir / "labels_original", root / "labels_original")
    (root / "dataset_original").mkdir()
    for sub in ("tool", "specX", "specY", "specZ"):
        (root / "dataset_original" / sub).symlink_to(mudestreda_dir / "dataset_original" / sub)
    return root


def test_mudestreda_id_without_files(mudestreda_dir, tmp_path):
    root = _mudestreda_copy(mudestreda_dir, tmp_path)
    train = root / "labels_original" / "tool_distribution" / "train.csv"
    train.write_text(train.read_text().rstrip("\n") + "\nT9R99B9,used,2\n")
    with pytest.raises(DataError, match=r"train\.csv, line 5 \(id 'T9R99B9'\): no file"):
        mudestreda(root)
    source, groups, splits = mudestreda(root, skip_bad=True)
    assert len(source) == 9 and len(source.skipped) == 1 and "T9R99B9" in source.skipped[0][0]
    assert len(splits["train"]) == 3
    bad = root / "labels_original" / "tool_distribution" / "val.csv"
    bad.write_text("id,image_label,tool_label\nT2R1B1,sharp,1\nT2R6B4,worn,1\n")
    with pytest.raises(DataError, match=r"val\.csv, line 3: class number 1 is 'worn'"):
        mudestreda(root)
    bad.write_text("id,image_label\nT2R1B1,sharp\n")
    with pytest.raises(DataError, match=r"val\.csv: header .*tool_label"):
        mudestreda(root)


def test_validate_skip_bad_lists_and_keeps_good(tmp_path):
    ok = _good_wav(tmp_path / "ok.wav")
    src = _series_source([ok, str(tmp_path / "gone.wav"), ok])
    with pytest.raises(DataError, match="1 bad input"):
        validate(src, [AUDIO])
    kept, index = validate(src, [AUDIO], skip_bad=True, return_index=True)
    assert index.tolist() == [0, 2] and kept.ids == ["obs0", "obs2"] and kept.validated
    assert kept.skipped == [(str(tmp_path / "gone.wav"),
                             "group 'audio', input 0: file not found")]
    ds = make_dataset(src, [AUDIO], training=False, skip_bad=True)
    assert sum(int(y.shape[0]) for _, y in ds) == 2
    with pytest.raises(DataError, match="no inputs for group"):
        validate(src, [PHOTO])
