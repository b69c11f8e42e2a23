"""Series settings inferred from the data, the raw-frames and raw-samples views, and the
small-data recipe."""

import csv
import json

import keras
import numpy as np
import pytest

from conftest import require_data
from minape_tf import build_minape
from minape_tf.cli.main import main as cli_main
from minape_tf.data.loaders.manifest import manifest
from minape_tf.data.registry import select_groups
from minape_tf.data.series_settings import (FRAMES_KERNEL, RAW_POSITIONS, infer_settings,
                                            refit, typical_length)
from minape_tf.groups import SeriesGroup
from minape_tf.layers import SeriesFrames
from minape_tf.training.config import TrainConfig
from minape_tf.training.setup import prepare_run


def _group(length, rate=100, **given):
    settings = infer_settings(length, rate, given)
    return SeriesGroup("sensor", channels=2, sample_rate=rate, inferred=tuple(settings),
                       **settings)


@pytest.mark.parametrize("length", [8, 24, 100, 1460, 2048, 150_000, 10_000_000])
def test_inferred_settings_build_a_model_with_a_patch_of_frames_and_bands(length):
    group = _group(length)
    assert group.representation == ("logmel" if length >= 2048 else "frames")
    frames, bands, _ = group.feature_shape
    assert frames >= group.patch_size and bands >= group.patch_size
    raw = _group(length, representation="raw")
    assert raw.feature_shape == (length, 2) and 1 <= raw.patch_size <= length
    assert length // raw.patch_size >= min(length, RAW_POSITIONS)
    if length <= 150_000:             # the 10^7 model's features are too big to run here
        model = build_minape([group], 3, width=8, depth=1, features_in_model=True)
        out = model({"sensor": np.zeros((1, length, 2), "float32")})
        assert out.shape == (1, 3)


def test_given_settings_are_kept_and_the_others_chosen_around_them():
    settings = infer_settings(150, 100, {"patch_size": 8})
    assert settings["patch_size"] == 8 and settings["n_fft"] >= 8
    assert 1 + (150 - settings["n_fft"]) // settings["hop"] >= 8
    assert infer_settings(5000, 1000, {"representation": "frames"})["representation"] == "frames"
    assert infer_settings(100, 100, {"representation": "frames"})["representation"] == "frames"
    assert infer_settings(5000, 1000, {"representation": "raw"})["patch_size"] == 64
    with pytest.raises(ValueError, match="length=8 is shorter than patch_size=16"):
        infer_settings(8, 100, {"representation": "raw", "patch_size": 16})
    with pytest.raises(ValueError, match=r"groups\.series\.hop=\d+ or less.*patch_size="):
        infer_settings(100, 100, {"n_fft": 64, "hop": 32, "patch_size": 4})
    with pytest.raises(ValueError, match="n_mels=4 is smaller than patch_size=8"):
        infer_settings(4096, 1000, {"n_mels": 4})


def test_refit_keeps_the_users_values_and_records_what_is_still_inferred():
    group = _group(150)
    fitted = refit(group, {"n_fft": 32})
    assert fitted.n_fft == 32 and "n_fft" not in fitted.inferred
    assert fitted.hop == infer_settings(150, 100, {"n_fft": 32})["hop"]
    assert refit(group, {}, {"patch_size": 1}).patch_size == 1
    assert refit(group, {}, {"width": 32}).width == 32
    plain = group.replace(inferred=())               # a group the user wrote: no refit
    assert refit(plain, {}, {"patch_size": 1}) is plain


def test_the_frames_view_gets_a_kernel_that_fits_its_grid_unless_one_is_given():
    frames = _group(150)
    assert frames.representation == "frames" and frames.kernel_size == FRAMES_KERNEL
    assert _group(4096).kernel_size is None                       # log-Mel: the model's
    assert _group(150, representation="raw").kernel_size is None
    assert _group(150, kernel_size=3).kernel_size == 3
    assert refit(frames, {}, {"kernel_size": 7}).kernel_size == 7   # --kernel-size wins
    model = build_minape([frames], 2, width=8, depth=1, kernel_size=9)
    kernels = [w.shape for w in model.weights if "depthwise" in w.path and
               w.path.endswith("kernel")]
    assert kernels and all(k[:2] == (FRAMES_KERNEL, FRAMES_KERNEL) for k in kernels)


def test_typical_length_pads_to_the_longest_unless_it_is_an_outlier():
    assert typical_length([29, 100, 361]) == 361
    assert typical_length([100] * 99 + [100_000]) == 100


def test_series_frames_equal_a_numpy_reference():
    x = np.random.default_rng(0).normal(size=(2, 30, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(SeriesFrames(8, 3)(x))
    reference = np.lib.stride_tricks.sliding_window_view(x, 8, axis=1)[:, ::3]
    np.testing.assert_array_equal(out, np.moveaxis(reference, -1, 2))


def test_frames_model_round_trips_through_keras_file(tmp_path):
    group = _group(24)
    model = build_minape([group], 2, width=8, depth=1, features_in_model=True)
    x = np.random.default_rng(1).normal(size=(2, 24, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.groups[0].representation == "frames"
    np.testing.assert_allclose(again({"sensor": x}), model({"sensor": x}), atol=1e-6)


def _write_set(root, lengths, channels=1, split=True):
    rng = np.random.default_rng(0)
    (root / "s").mkdir(parents=True)
    rows = []
    for i, n in enumerate(lengths):
        label = i % 2
        t = np.linspace(0, 1, n)
        x = np.sin(2 * np.pi * (2 + 3 * label) * t)[:, None] + 0.1 * rng.normal(size=(n, 1))
        np.save(root / "s" / f"{i}.npy", np.repeat(x, channels, 1).astype("float32"))
        rows.append({"series": f"s/{i}.npy", "label": f"c{label}",
                     "split": "test" if i % 5 == 0 else "train"})
    with open(root / "m.csv", "w", newline="") as f:
        fields = ["series", "label"] + (["split"] if split else [])
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return root / "m.csv"


def test_manifest_infers_variable_lengths_and_carves_a_stratified_validation(tmp_path):
    path = _write_set(tmp_path, [29 + 7 * i for i in range(40)])
    with pytest.warns(UserWarning, match="no 'val' rows; 3 of the 32 training rows"):
        loaded = manifest(path, sample_rate=50)
    group = loaded.groups[0]
    assert group.length == 29 + 7 * 39 and group.representation == "frames"
    val = loaded.source.labels[loaded.splits["val"]]
    assert sorted(np.bincount(val)) == [1, 2]                        # both classes
    assert not set(loaded.splits["val"]) & set(loaded.splits["train"])
    assert len(loaded.splits["test"]) == 8


def test_shape_that_disagrees_with_the_channels_is_refused_naming_both_readings(tmp_path):
    path = _write_set(tmp_path, [50] * 10, channels=3)
    np.save(tmp_path / "s" / "3.npy", np.zeros((3, 50), "float32"))     # transposed
    from minape_tf.data.errors import DataError
    with pytest.raises(DataError, match=r"3\.npy.*50 channels; expected 3.*\(3, 50\)"):
        manifest(path, sample_rate=50, val_fraction=0)


def test_training_budget_of_a_small_set_and_the_users_patch(tmp_path):
    path = _write_set(tmp_path, [100] * 20)
    config = TrainConfig(dataset="manifest", data_dir=str(path),
                         dataset_options={"sample_rate": 100, "val_fraction": 0},
                         model={"patch_size": 2})
    setup = prepare_run(config)
    assert setup.groups[0].patch_size == 2 and "patch_size" not in setup.groups[0].inferred
    assert setup.groups[0].width == 64
    assert setup.steps == 34 and setup.total_steps == 1020 and setup.min_epochs == 30
    explicit = prepare_run(config.updated(epochs=2, min_steps=0))
    assert explicit.steps == 1 and explicit.total_steps == 2 and explicit.min_epochs == 0
    assert setup.inferred_settings()[0].startswith("series group 'series': 1 channel(s)")


def test_select_groups_refits_only_inferred_series_groups():
    group = _group(150)
    assert select_groups([group], overrides={"sensor": {"hop": 2}})[0].hop == 2
    with pytest.raises(ValueError, match="fewer than patch_size"):
        select_groups([group], overrides={"sensor": {"hop": 200, "patch_size": 4}})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand",
                                  "PickupGestureWiimoteZ"])
def test_every_shared_ucr_set_builds_with_the_inferred_settings(name):
    path = require_data(f"ucr/{name}/manifest.csv")
    with pytest.warns(UserWarning, match="no 'val' rows"):
        setup = prepare_run(TrainConfig(dataset="manifest", data_dir=str(path),
                                        dataset_options={"sample_rate": 100}))
    group = setup.groups[0]
    assert min(group.feature_shape[:2]) >= group.patch_size
    model = setup.build()
    x = np.zeros((2, *group.input_shape(setup.inputs.features_in_model)), "float32")
    assert model({group.name: x}).shape == (2, len(setup.classes))


@pytest.mark.slow
def test_cli_on_a_small_ucr_set_beats_chance_clearly(tmp_path):
    path = require_data("ucr/ItalyPowerDemand/manifest.csv")
    out = tmp_path / "run"
    code = cli_main(["train", "--dataset", "manifest", "--data-dir", str(path),
                     "-D", "sample_rate=100", "--out", str(out), "--verbose", "0",
                     "--min-steps", "150", "--width", "32", "--depth", "2"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.8                         # 2 classes: chance is 0.5
    run = json.loads((out / "run.json").read_text())
    assert run["inferred_settings"][0].startswith("series group 'series'")
    assert run["splits"]["val"] > 0 and run["total_steps"] >= 150
