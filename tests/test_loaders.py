"""The loaders on the real data in ../shared/data, and on layouts built in tmp_path."""

import csv
import os
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from minape_tf.data import (ImageGroup, SeriesGroup, avdigits, fsdd, make_dataset, manifest,
                            mudestreda)

SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo"]


def _csv_ids(root, distribution, split):
    path = root / "labels_original" / f"{distribution}_distribution" / f"{split}.csv"
    with open(path, newline="") as f:
        return [(r["id"], r["image_label"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("distribution", ["tool", "random"])
def test_mudestreda_sample(mudestreda_dir, distribution):
    source, groups, splits = mudestreda(mudestreda_dir, distribution=distribution)
    assert len(source) == 9 and not source.skipped and source.validated
    assert source.classes == ["sharp", "used", "dulled"]
    assert [g.name for g in groups] == ["tool", "spec"]
    assert groups[0].channels == 3 and groups[1].channels == 9
    for split in ("train", "val", "test"):
        got = [(source.ids[i], source.classes[source.labels[i]]) for i in splits[split]]
        assert got == _csv_ids(mudestreda_dir, distribution, split)
    if distribution == "tool":
        tools = [set(source.split_keys[splits[s]]) for s in ("train", "val", "test")]
        assert all(not (a & b) for a, b in [(tools[0], tools[1]), (tools[0], tools[2]),
                                            (tools[1], tools[2])])
    ds = make_dataset(source, groups, training=False, batch_size=9)
    x, y = next(iter(ds))
    assert x["tool"].shape == (9, 256, 256, 3) and x["spec"].shape == (9, 256, 256, 9)
    np.testing.assert_array_equal(y.numpy(), source.labels)
    # The 9 spectrogram channels are specX, specY, specZ in that order (RGB each).
    only_y = source.subset(np.arange(9))
    only_y.inputs = {"spec": [(row[1],) for row in source.inputs["spec"]]}
    single = ImageGroup("spec", channels=3, size=(256, 256))
    xy, _ = next(iter(make_dataset(only_y, [single], training=False, batch_size=9)))
    np.testing.assert_allclose(x["spec"][..., 3:6].numpy(), xy["spec"].numpy(), atol=1e-6)


def test_mudestreda_with_raw_forces(mudestreda_dir, tmp_path):
    root = tmp_path / "mudestreda"
    (root / "dataset_original").mkdir(parents=True)
    os.symlink(mudestreda_dir / "labels_original", root / "labels_original")
    os.symlink(mudestreda_dir / "dataset_original" / "tool", root / "dataset_original" / "tool")
    forces = root / "forces"
    forces.mkdir()
    rng = np.random.default_rng(0)
    ids = [p.stem for p in (mudestreda_dir / "dataset_original" / "tool").glob("*.jpg")]
    for k, ident in enumerate(sorted(ids)):
        data = rng.standard_normal((3000, 3)).astype(np.float32)
        if k % 2:
            np.save(forces / f"{ident}.npy", data)
        else:
            np.savetxt(forces / f"{ident}.csv", data, delimiter=",", header="Fx,Fy,Fz",
                       comments="")
    group = SeriesGroup("force", channels=3, sample_rate=10_000, source_rate=10_000,
                        length=4096, n_fft=1024, hop=512, n_mels=64, inputs=("Fx", "Fy", "Fz"))
    source, groups, splits = mudestreda(root, force_group=group)
    assert [g.name for g in groups] == ["tool", "force"] and len(source) == 9
    x, _ = next(iter(make_dataset(source, groups, training=False, batch_size=9)))
    assert x["force"].shape == (9, group.n_frames, 64, 3)
    assert np.isfinite(x["force"].numpy()).all()


def test_fsdd_speaker_split(fsdd_dir):
    source, groups, splits = fsdd(fsdd_dir)
    assert len(source) == 2500 and source.validated and source.classes[3] == "3"
    assert Counter(source.split_keys.tolist()) == {s: 500 for s in SPEAKERS}
    assert Counter(source.labels.tolist()) == {d: 250 for d in range(10)}
    assert set(source.split_keys[splits["test"]]) == {"theo"} and len(splits["test"]) == 500
    # val: 10% of every (digit, speaker) stratum of the other four speakers.
    assert len(splits["val"]) == 200 and len(splits["train"]) == 1800
    val = Counter(zip(source.labels[splits["val"]], source.split_keys[splits["val"]]))
    assert set(val.values()) == {5} and len(val) == 40
    all_idx = np.concatenate(list(splits.values()))
    assert len(np.unique(all_idx)) == 2500
    again = fsdd(fsdd_dir, validate=False)
    for k in splits:
        np.testing.assert_array_equal(again.splits[k], splits[k])
    held = fsdd(fsdd_dir, test_speakers=("lucas",), val_speakers=("george",), validate=False)
    assert set(held.source.split_keys[held.splits["val"]]) == {"george"}
    assert set(held.source.split_keys[held.splits["train"]]) == {"jackson", "nicolas", "theo"}


def test_fsdd_speaker_validating_and_testing_is_split_by_index(fsdd_dir):
    source, _, splits = fsdd(fsdd_dir, test_speakers=("theo",), val_speakers=("theo",),
                             validate=False)
    index = np.array([int(i.rsplit("_", 1)[1]) for i in source.ids])
    keys = source.split_keys
    assert set(keys[splits["train"]]) == {"george", "jackson", "lucas", "nicolas"}
    assert set(keys[splits["val"]]) == set(keys[splits["test"]]) == {"theo"}
    assert (index[splits["test"]] < 5).all() and len(splits["test"]) == 50
    assert (index[splits["val"]] >= 5).all() and len(splits["val"]) == 450
    assert len(np.unique(np.concatenate(list(splits.values())))) == 2500


def test_fsdd_official_split(fsdd_dir):
    source, groups, splits = fsdd(fsdd_dir, split="official", validate=False)
    index = np.array([int(i.rsplit("_", 1)[1]) for i in source.ids])
    assert (index[splits["test"]] < 5).all() and len(splits["test"]) == 250
    assert ((index[splits["val"]] >= 5) & (index[splits["val"]] < 10)).all()
    assert (index[splits["train"]] >= 10).all() and len(splits["train"]) == 2000
    for part in ("test", "val"):
        assert Counter(source.split_keys[splits[part]].tolist()) == {s: 50 for s in SPEAKERS}
    (g,) = groups
    assert (g.name, g.channels, g.sample_rate, g.source_rate) == ("audio", 1, 8000, 8000)


def test_avdigits(fsdd_dir):
    source, groups, splits = avdigits(fsdd_dir, seed=0)
    assert [g.name for g in groups] == ["audio", "digit"]
    from sklearn.datasets import load_digits

    targets = load_digits().target
    image_idx = np.array([int(i.rsplit("digit", 1)[1]) for i in source.ids])
    np.testing.assert_array_equal(targets[image_idx], source.labels)  # same digit
    test_imgs = set(image_idx[splits["test"]])
    seen = set(image_idx[splits["train"]]) | set(image_idx[splits["val"]])
    assert not test_imgs & seen  # disjoint image pools
    np.testing.assert_array_equal(source.inputs["digit"][5][0],
                                  load_digits().images[image_idx[5]][..., None] / 16.0)
    same = avdigits(fsdd_dir, seed=0)
    assert same.source.ids == source.ids
    other = avdigits(fsdd_dir, seed=1)
    assert other.source.ids != source.ids
    sub = source.subset(splits["test"][::50])
    x, y = next(iter(make_dataset(sub, groups, training=True, batch_size=len(sub))))
    assert x["audio"].shape == (len(sub), *groups[0].feature_shape)
    assert x["digit"].shape == (len(sub), 32, 32, 1)


def test_manifest_with_groups_and_inferred_groups(fsdd_files, tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k, wav in enumerate(fsdd_files * 2):
        img = tmp_path / f"im{k}.png"
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(img)
        digit = os.path.basename(wav).split("_")[0]
        rows.append({"id": f"r{k}", "audio": wav, "photo": img.name, "label": digit,
                     "group": f"g{k % 4}"})
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "audio", "photo", "label", "group"])
        w.writeheader()
        w.writerows(rows)
    source, groups, splits = manifest(path)
    kinds = {g.name: g.kind for g in groups}
    assert kinds == {"audio": "series", "photo": "image"}
    assert source.classes == sorted({r["label"] for r in rows})
    assert len(source) == len(rows) and source.ids[0] == "r0"
    parts = [set(source.split_keys[splits[s]]) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 4 and not (parts[0] & parts[2])
    assert sum(len(v) for v in splits.values()) == len(rows)
    audio = next(g for g in groups if g.name == "audio")
    assert audio.sample_rate == 8000 and audio.channels == 1
    x, y = next(iter(make_dataset(source, groups, training=False, batch_size=len(rows))))
    assert x["photo"].shape == (len(rows), 224, 224, 3)

    mine = [SeriesGroup("voice", channels=1, sample_rate=8000, length=4000, n_fft=256,
                        hop=128, n_mels=16, inputs=("audio",))]
    src2, groups2, _ = manifest(path, groups=mine, classes=[str(d) for d in range(10)])
    assert [g.name for g in groups2] == ["voice"] and src2.classes[7] == "7"
    assert src2.labels[0] == int(rows[0]["label"])


def test_manifest_split_column(fsdd_files, tmp_path):
    path = tmp_path / "m.csv"
    names = ["train", "train", "val", "test", "train", "test"]
    with open(path, "w") as f:
        f.write("audio,label,split\n")
        for wav, s in zip(fsdd_files, names):
            f.write(f"{wav},{os.path.basename(wav)[0]},{s}\n")
    _, _, splits = manifest(path)
    assert splits["train"].tolist() == [0, 1, 4] and splits["val"].tolist() == [2]
    assert splits["test"].tolist() == [3, 5]


def _write_manifest(path, header, rows, bom=False):
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_manifest_mixes_gray_rgb_and_rgba_images(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (12, 16, 4), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")     # first row gray: still RGB
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(gray).save(tmp_path / "gray.bmp")     # tf decodes BMP/GIF to >= 3
    Image.fromarray(gray).save(tmp_path / "gray.gif")
    files = ["gray.png", "rgb.png", "rgba.png", "gray.bmp", "gray.gif"]
    path = _write_manifest(tmp_path / "m.csv", ["photo", "label", "split"],
                           [[f, "ab"[k % 2], "train"] for k, f in enumerate(files)])
    source, groups, _ = manifest(path, image_size=(12, 16))
    assert groups[0].channels == 3
    x, _ = next(iter(make_dataset(source, groups, training=False, batch_size=5)))
    x = x["photo"].numpy()
    assert x.shape == (5, 12, 16, 3)
    for k in (0, 3, 4):  # gray replicated to RGB
        np.testing.assert_allclose(x[k], np.repeat(gray[..., None], 3, -1) / 255, atol=1e-6)
    np.testing.assert_allclose(x[1], rgb / 255, atol=1e-6)
    np.testing.assert_allclose(x[2], rgba[..., :3] / 255, atol=1e-6)  # alpha dropped

    # All rows gray: 1 channel. A 1-channel group takes RGB(A) by luminance, GIF included.
    path = _write_manifest(tmp_path / "g.csv", ["photo", "label"],
                           [["gray.png", "a"], ["gray.bmp", "b"], ["gray.gif", "a"]])
    source, groups, _ = manifest(path, image_size=(12, 16))
    assert groups[0].channels == 1
    one = ImageGroup("photo", channels=1, size=(12, 16))
    src = source.subset([0, 0])
    src.inputs = {"photo": [(str(tmp_path / "rgba.png"),), (str(tmp_path / "gray.gif"),)]}
    x, _ = next(iter(make_dataset(src, [one], training=False, batch_size=2)))
    luminance = rgba[..., :3] @ np.array([0.2989, 0.5870, 0.1140]) / 255
    np.testing.assert_allclose(x["photo"][0, ..., 0], luminance, atol=1e-5)
    # (tf's luminance weights sum to 0.9999)
    np.testing.assert_allclose(x["photo"][1, ..., 0], gray / 255, atol=2e-4)


def test_manifest_bom_header_and_ignore_columns(fsdd_files, tmp_path):
    rows = [[wav, os.path.basename(wav)[0], f"note {k}", ""]
            for k, wav in enumerate(fsdd_files)]
    path = _write_manifest(tmp_path / "excel.csv", ["audio", "label", "notes", "operator"],
                           rows, bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfaudio")
    with pytest.raises(Exception, match=r"column 'notes'.*ignore_columns=\('notes',\)"):
        manifest(path, ignore_columns=("operator",))
    with pytest.raises(Exception, match=r"'operator'.*go in ignore_columns"):
        manifest(path, ignore_columns=("notes",))
    with pytest.raises(Exception, match=r"ignore_columns \['nope'\] are not in the header"):
        manifest(path, ignore_columns=("nope",))
    source, groups, splits = manifest(path, ignore_columns=("notes", "operator"),
                                      val_fraction=0, test_fraction=0)
    assert [g.name for g in groups] == ["audio"] and len(source) == len(fsdd_files)
    assert source.classes == sorted({r[1] for r in rows})


def test_manifest_with_too_few_groups_splits_rows_with_a_warning(fsdd_files, tmp_path):
    rows = [[wav, "ab"[k % 2], f"g{k % 2}"] for k, wav in enumerate(fsdd_files * 5)]
    path = _write_manifest(tmp_path / "m.csv", ["audio", "label", "group"], rows)
    with pytest.warns(UserWarning, match=r"2 distinct value\(s\), too few for group-aware"):
        source, _, splits = manifest(path, validate=False)
    assert all(len(splits[s]) for s in ("train", "val", "test"))
    assert len(splits["test"]) == 6 and len(splits["val"]) == 4  # 20% and 10% per class
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(30))
    assert set(source.labels[splits["test"]]) == {0, 1}  # stratified by label
    tiny = _write_manifest(tmp_path / "t.csv", ["audio", "label", "group"],
                           [[fsdd_files[0], "a", "g"], [fsdd_files[1], "b", "g"],
                            [fsdd_files[2], "a", "g"]])
    with pytest.warns(UserWarning), pytest.raises(Exception, match="too few for a val split"):
        manifest(tiny, validate=False)
    # Enough groups: whole groups on each side, no warning.
    rows = [[wav, "ab"[k % 2], f"g{k % 6}"] for k, wav in enumerate(fsdd_files * 2)]
    path = _write_manifest(tmp_path / "ok.csv", ["audio", "label", "group"], rows)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source, _, splits = manifest(path, validate=False)
    keys = [set(source.split_keys[splits[s]]) for s in ("train", "val", "test")]
    assert all(keys) and not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


@pytest.mark.parametrize("rate, n", [(44_100, 4096), (1000, 4096), (16_000, 2048)])
def test_manifest_inferred_mel_bank_has_no_empty_filter(tmp_path, rate, n):
    from minape_tf.layers.mel import mel_filters

    x = 0.1 * np.sin(np.arange(n) / 3.0)
    for k in range(2):
        sf.write(tmp_path / f"s{k}.wav", x, rate, subtype="PCM_16")
    path = _write_manifest(tmp_path / "m.csv", ["sig", "label"],
                           [["s0.wav", "a"], ["s1.wav", "b"]])
    _, (g,), _ = manifest(path, val_fraction=0, test_fraction=0)
    assert g.sample_rate == rate and g.representation == "logmel" and g.n_fft == n // 8
    bank = mel_filters(g.sample_rate, g.n_fft, g.n_mels, g.fmin, g.fmax)
    assert bank.any(axis=1).all(), (g.n_fft, g.n_mels)
    assert g.patch_size <= g.n_mels <= max(8, g.n_fft // 8)


def test_avdigits_image_pools_are_disjoint_and_val_speakers(fsdd_dir):
    source, _, splits = avdigits(fsdd_dir, seed=3, validate=False)
    image_id = np.array([int(i.rsplit("+digit", 1)[1]) for i in source.ids])
    train, val, test = (set(image_id[splits[s]]) for s in ("train", "val", "test"))
    assert train and val and test
    assert not (train & val or train & test or val & test)
    # The non-test pool is shared in proportion to the recordings (1800 : 200).
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.2
    held = avdigits(fsdd_dir, test_speakers=("lucas",), val_speakers=("george",),
                    validate=False)
    keys, hs = held.source.split_keys, held.splits
    assert set(keys[hs["val"]]) == {"george"} and set(keys[hs["test"]]) == {"lucas"}
    image_id = np.array([int(i.rsplit("+digit", 1)[1]) for i in held.source.ids])
    parts = [set(image_id[hs[s]]) for s in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_package_level_readers(fsdd_dir, mudestreda_dir):
    import soundfile

    from minape_tf.data import DataError, read_image, read_series

    wav = fsdd_dir / "recordings" / "0_george_0.wav"
    data, rate = read_series(wav)
    ref, ref_rate = soundfile.read(wav, dtype="float32", always_2d=True)
    assert rate == ref_rate == 8000 and data.shape == ref.shape and data.shape[1] == 1
    np.testing.assert_array_equal(data, ref)
    jpg = mudestreda_dir / "dataset_original" / "tool" / "T1R2B1.jpg"
    image = read_image(jpg)
    with Image.open(jpg) as im:
        assert image.shape == (im.height, im.width, 3) and image.dtype == np.float32
        assert np.abs(image - np.asarray(im.convert("RGB")) / 255).mean() < 0.01
    assert 0 <= image.min() and image.max() <= 1
    gray = read_image(jpg, channels=1)
    assert gray.shape == (*image.shape[:2], 1)
    with pytest.raises(DataError, match=r"nope\.png: file not found"):
        read_image(fsdd_dir / "nope.png")
    with pytest.raises(DataError, match=r"nope\.wav: file not found"):
        read_series(fsdd_dir / "nope.wav")
