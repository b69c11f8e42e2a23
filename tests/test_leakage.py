"""Leakage between splits: the same file, or the same content under another name, in two
splits is refused before a training starts (or, allowed, counted in its report); labels
spelled two ways are refused."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from minape_tf.cli.main import main
from minape_tf.data import Source
from minape_tf.data.errors import DataError
from minape_tf.data.leakage import check_duplicates, find_duplicates
from minape_tf.data.loaders.manifest import manifest
from minape_tf.groups import ImageGroup
from minape_tf.training import TrainConfig, train

from harness import TINY


def _images(folder, n=12):
    """``n`` distinct 32x32 gray PNGs, classes alternating; returns their names."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def _manifest(folder, rows):
    path = folder / "manifest.csv"
    path.write_text("photo,label,split\n" + "".join(f"{f},{y},{s}\n" for f, y, s in rows))
    return path


def _rows(names):
    splits = ["train"] * 6 + ["val"] * 2 + ["test"] * 4
    return [(f, "ab"[i % 2], s) for i, (f, s) in enumerate(zip(names, splits))]


def _config(csv, **changes):
    values = dict(dataset="manifest", data_dir=str(csv),
                  dataset_options={"image_size": [32, 32]}, epochs=1, batch_size=4,
                  model=dict(TINY), early_stopping=0, verbose=0)
    values.update(changes)
    return TrainConfig(**values)


def test_the_same_file_in_train_and_test_is_refused_before_anything_is_written(tmp_path):
    names = _images(tmp_path)
    rows = _rows(names) + [(names[0], "a", "test")]          # a copy-paste slip
    csv = _manifest(tmp_path, rows)
    with pytest.raises(DataError, match="1 observation.*in more than one split") as error:
        train(_config(csv), tmp_path / "run")
    assert "the same file(s) in train and test" in str(error.value)
    assert "im0.png" in str(error.value) and "allow_duplicates=True" in str(error.value)
    assert not (tmp_path / "run" / "config.json").exists()


def test_the_same_content_under_two_names_is_refused_on_the_command_line(tmp_path, capsys):
    names = _images(tmp_path)
    shutil.copy(tmp_path / names[1], tmp_path / "renamed.png")
    csv = _manifest(tmp_path, _rows(names) + [("renamed.png", "b", "test")])
    code = main(["train", "--dataset", "manifest", "--data-dir", str(csv), "-D",
                 "image_size=[32,32]", "--width", "8", "--depth", "1", "--epochs", "1",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert "the same content in train and test" in err
    assert "im1.png" in err and "renamed.png" in err and "--allow-duplicates" in err


def test_duplicates_within_one_split_are_no_leak(tmp_path):
    names = _images(tmp_path)
    loaded = manifest(_manifest(tmp_path, _rows(names) + [(names[0], "a", "train")]))
    assert find_duplicates(loaded.source, loaded.splits) == []


def test_allowed_duplicates_train_and_are_counted_in_run_json_and_the_report(tmp_path):
    names = _images(tmp_path)
    csv = _manifest(tmp_path, _rows(names) + [(names[0], "a", "test")])
    lines = []
    result = train(_config(csv, allow_duplicates=True), tmp_path / "run", log=lines.append)
    assert any("Going on with 1 observation(s) in more than one split" in x for x in lines)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert len(info["duplicates"]) == 1 and "im0.png" in info["duplicates"][0]
    from minape_tf.evaluation.evaluate import evaluate_training

    metrics = evaluate_training(result, latency=False)
    assert metrics["duplicates_across_splits"] == 1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Observations in more than one split (1; allow_duplicates)" in report


def test_observations_are_the_same_only_when_all_their_inputs_are():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(8, 8, 1)).astype(np.float32)
    audio = [rng.normal(size=(100, 1)).astype(np.float32) for _ in range(3)]
    source = Source(inputs={"digit": [(shared,)] * 3, "audio": [(a,) for a in audio]},
                    labels=[0, 1, 0], classes=["x", "y"], ids=["r0", "r1", "r2"])
    splits = {"train": np.array([0, 1]), "test": np.array([2])}
    assert find_duplicates(source, splits) == []               # one image, other recordings
    image_only = [ImageGroup("digit", channels=1, size=(8, 8))]
    [duplicate] = find_duplicates(source, splits, image_only)  # the image alone leaks
    assert not duplicate.same_path and set(duplicate.where) == {"train", "test"}
    assert "observation 'r2'" in duplicate.describe()
    assert check_duplicates(source, splits, image_only, allow=True) == [duplicate.describe()]


def test_labels_differing_only_by_case_spaces_or_number_spelling_are_refused(tmp_path):
    names = _images(tmp_path, 4)
    path = tmp_path / "manifest.csv"
    path.write_text(f"photo,label\n{names[0]},Sharp\n{names[1]},sharp \n{names[2]},used\n"
                    f"{names[3]},used\n")
    with pytest.raises(DataError, match=r"case, surrounding spaces or the spelling of a "
                                        r"number: 'Sharp' \(line 2\) and 'sharp ' \(line 3\)"):
        manifest(path)
    path.write_text(f"photo,label\n{names[0]},1\n{names[1]},01\n{names[2]},0\n"
                    f"{names[3]},1.0\n")
    with pytest.raises(DataError, match=r"'1' \(line 2\) and '01' \(line 3\) and '1.0' "
                                        r"\(line 5\)"):
        manifest(path)
    path.write_text(f"photo,label\n{names[0]}, sharp\n{names[1]}, sharp\n{names[2]}, used\n")
    assert manifest(path, validate=False).source.classes == ["sharp", "used"]  # one spelling
