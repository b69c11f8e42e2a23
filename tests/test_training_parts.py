"""Config files and flags, the learning-rate schedule, MixUp / CutMix."""

import json

import numpy as np
import pytest
import tensorflow as tf

from minape_tf.training.config import TrainConfig, load_config, save_config
from minape_tf.training.mixing import cutmix, mix_batch, mixup
from minape_tf.training.schedule import WarmupCosine


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_round_trip(tmp_path, suffix):
    config = TrainConfig(dataset="fsdd", data_dir="/data/fsdd", epochs=3,
                         dataset_options={"test_speakers": ["theo"]},
                         model={"width": 64, "fusion": "add"}, groups={"audio": {"n_mels": 16}})
    path = str(tmp_path / f"config{suffix}")
    save_config(config, path)
    assert load_config(path) == config


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"epochs": 2, "learning_rat": 0.1}))
    with pytest.raises(ValueError, match="learning_rat"):
        load_config(str(path))
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="float8")
    with pytest.raises(ValueError, match="widht"):
        TrainConfig(model={"widht": 3})


def test_updated_merges_dicts_and_ignores_none():
    config = TrainConfig(model={"width": 64, "depth": 4})
    new = config.updated(model={"depth": 2}, epochs=None, seed=7)
    assert new.model == {"width": 64, "depth": 2} and new.epochs == config.epochs
    assert new.seed == 7


def test_warmup_then_cosine():
    schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10, floor=1e-5)
    lr = np.array([float(schedule(s)) for s in range(120)])
    assert np.all(np.diff(lr[:10]) > 0) and lr[9] == pytest.approx(1e-3)
    assert lr[10] == pytest.approx(1e-3)
    assert np.all(np.diff(lr[10:100]) <= 1e-12)
    assert lr[100] == pytest.approx(1e-5) and lr[119] == pytest.approx(1e-5)
    assert WarmupCosine.from_config(schedule.get_config()).get_config() == schedule.get_config()


def _batch(n=8):
    rng = np.random.default_rng(0)
    inputs = {"img": tf.constant(rng.normal(size=(n, 8, 8, 3)).astype("float32")),
              "spec": tf.constant(rng.normal(size=(n, 6, 4, 1)).astype("float32")),
              "raw": tf.constant(rng.normal(size=(n, 50, 2)).astype("float32"))}
    labels = tf.one_hot(np.arange(n) % 3, 3)
    return inputs, labels


def test_mixing_keeps_label_mass_and_replays_from_the_seed():
    inputs, labels = _batch()
    seed = tf.constant([3, 4], tf.int64)
    for fn in (mixup, cutmix):
        x1, y1 = fn(inputs, labels, seed, 1.0)
        x2, y2 = fn(inputs, labels, seed, 1.0)
        np.testing.assert_allclose(tf.reduce_sum(y1, -1), 1.0, rtol=1e-6)
        for name in inputs:
            np.testing.assert_array_equal(x1[name], x2[name])
            assert x1[name].shape == inputs[name].shape
        np.testing.assert_array_equal(y1, y2)
    x3, _ = mixup(inputs, labels, tf.constant([5, 6], tf.int64), 1.0)
    assert not np.allclose(x3["img"], x1["img"])


def test_cutmix_label_weight_is_the_pasted_fraction():
    n = 6
    inputs = {"img": tf.zeros((n, 50, 50, 1)) + tf.reshape(tf.range(n, dtype=tf.float32) + 1,
                                                          (n, 1, 1, 1)),
              "raw": tf.zeros((n, 400, 1)) + tf.reshape(tf.range(n, dtype=tf.float32) + 1,
                                                        (n, 1, 1))}
    labels = tf.one_hot(tf.range(n), n)
    for s in range(5):
        x, y = cutmix(inputs, labels, tf.constant([s, 1], tf.int64), 1.0)
        for i in range(n):
            own = float(y[i, i]) if float(y[i, i]) < 1 else 1.0
            kept_img = float(np.mean(x["img"][i] == i + 1))
            kept_raw = float(np.mean(x["raw"][i] == i + 1))
            if own < 1:   # a partner other than itself: the kept fraction is the label weight
                assert kept_img == pytest.approx(own, abs=0.05)   # pixel rounding: 2 / 50
                assert kept_raw == pytest.approx(own, abs=0.01)


def test_mix_batch_switches():
    inputs, labels = _batch()
    same = mix_batch(inputs, labels, tf.constant([1, 2], tf.int64))
    assert same[0] is inputs
    x, y = mix_batch(inputs, labels, tf.constant([1, 2], tf.int64), mixup_alpha=0.2,
                     cutmix_alpha=1.0)
    np.testing.assert_allclose(tf.reduce_sum(y, -1), 1.0, rtol=1e-6)


def test_select_groups_and_dataset_registry():
    from minape_tf import ImageGroup, SeriesGroup
    from minape_tf.data.registry import load_dataset, modality_code, select_groups

    groups = [ImageGroup("tool", size=(32, 32)), SeriesGroup("force", length=2048)]
    assert [g.name for g in select_groups(groups, "image")] == ["tool"]
    assert [g.name for g in select_groups(groups, "series")] == ["force"]
    assert [g.name for g in select_groups(groups, ["force", "tool"])] == ["tool", "force"]
    changed = select_groups(groups, "all", {"tool": {"size": [16, 16]}})
    assert changed[0].size == (16, 16) and changed[1] == groups[1]
    assert [modality_code(select_groups(groups, m)) for m in ("image", "series", "all")] \
        == ["i", "t", "m"]
    with pytest.raises(ValueError, match="selects no group"):
        select_groups(groups[:1], "series")
    with pytest.raises(ValueError, match="no such group"):
        select_groups(groups, "all", {"spec": {"n_mels": 3}})
    with pytest.raises(ValueError, match="not known"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="needs data_dir="):
        load_dataset("fsdd")


def test_spectrogram_images_count_as_the_time_series_modality(mudestreda_dir):
    """Mudestreda's rendered force spectrograms are an image pathway of the series modality,
    so Table 3's i / t / m rows select the photo, the spectrograms, and both."""
    from minape_tf.data.loaders import mudestreda
    from minape_tf.data.registry import modality_code, select_groups

    groups = mudestreda(mudestreda_dir, validate=False).groups
    assert [g.name for g in select_groups(groups, "image")] == ["tool"]
    assert [g.name for g in select_groups(groups, "series")] == ["spec"]
    assert modality_code(select_groups(groups, "image")) == "i"
    assert modality_code(select_groups(groups, "series")) == "t"
    assert modality_code(groups) == "m"


def test_the_readme_config_example_is_a_valid_config():
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    config = TrainConfig.from_dict(yaml.safe_load(block))
    assert config.dataset == "fsdd" and config.model["width"] == 64


def test_the_model_check_refuses_bad_arguments_and_leaves_the_random_state():
    import random

    from minape_tf.training.setup import check_config

    state = random.getstate()
    kwargs = check_config(TrainConfig(preset="mudestreda", model={"depth": 2}))
    assert kwargs["depth"] == 2 and kwargs["kernel_size"] == 13      # preset, then model
    assert random.getstate() == state                # a seeded run's weights are unchanged
    with pytest.raises(ValueError, match=r"fusion='sum' is not known"):
        check_config(TrainConfig(model={"fusion": "sum"}))
    with pytest.raises(ValueError, match=r"sequence_length=0"):
        check_config(TrainConfig(model={"sequence_length": 0}))
    assert check_config(TrainConfig(model={"sequence_length": 3}))["sequence_length"] == 3


@pytest.mark.slow
def test_a_run_setup_makes_device_histories_for_every_dataset_and_keeps_folds_whole():
    # what train, tune and each cross-validation fold read: with --grouped (folds of whole
    # tools) every window holds one tool's runs of its own split
    from minape_tf.data.registry import Loaded, load_dataset
    from minape_tf.protocol.folds import assign_folds, rotation
    from minape_tf.training.setup import prepare_run

    loaded = load_dataset("demo", None, n_tools=6, runs_per_tool=5, image_size=16)
    source = loaded.source
    splits = rotation(assign_folds(source.labels, 3, seed=0, groups=source.split_keys), 3)[0]
    config = TrainConfig(batch_size=64, steps=3, model={"width": 8, "depth": 1, "patch_size": 4,
                                                         "kernel_size": 3, "sequence_length": 4})
    setup = prepare_run(config, loaded=Loaded(source, loaded.groups, splits))
    assert setup.epochs == 3 and setup.total_steps == 3        # one batch per epoch
    for data, part in ((setup.train_data(), "train"), (setup.val_data(), "val"),
                       (setup.eval_data(setup.test_source()), "test")):
        x, y = next(iter(data))
        assert x["tool"].shape[:2] == (len(splits[part]), 4), part
    tools = {part: set(source.split_keys[splits[part]]) for part in ("train", "val", "test")}
    assert not (tools["train"] & tools["val"] or tools["train"] & tools["test"])


def test_a_data_set_without_a_named_preset_gets_its_own():
    from minape_tf.models.presets import presets
    from minape_tf.training.config import TrainConfig

    fsdd = TrainConfig(dataset="fsdd", model={"width": 32})
    assert fsdd.resolved_preset() == "fsdd"
    assert fsdd.model_arguments() == {**presets["fsdd"], "width": 32}
    assert TrainConfig(dataset="avdigits").resolved_preset() == "fsdd"
    assert TrainConfig(dataset="fsdd", preset="none").model_arguments() == {}
    assert TrainConfig(dataset="fsdd", preset="mex").resolved_preset() == "mex"
    assert TrainConfig(dataset="fsdd", architecture="vit").model_arguments() == {}
    assert TrainConfig(dataset="demo").model_arguments() == {}
