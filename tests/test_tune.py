"""``tune``: a keras-tuner search over Minape's hyperparameters on the demo data."""

import json

import pytest

from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.training import TrainConfig
from minape_tf.protocol.tuning import DEFAULT_SEARCH_SPACE, resolve_search_space, tune

SPACE = {"width": [8, 16], "depth": {"min": 1, "max": 2}, "kernel_size": [3],
         "patch_size": [8, 16]}


def _groups(image=64, length=2048):
    return [ImageGroup("tool", channels=3, size=(image, image)),
            SeriesGroup("force", channels=3, sample_rate=2000, length=length, n_fft=256,
                        hop=64, n_mels=32)]


def test_default_space_is_the_papers_with_fitting_patches():
    space = resolve_search_space(None, _groups(image=64, length=2048))   # 29 frames x 32 mels
    assert space["width"] == [128, 192, 256]
    assert space["depth"] == {"min": 4, "max": 16, "step": 4}
    assert space["kernel_size"] == [5, 7, 9, 13]
    assert space["patch_size"] == [2, 4, 8, 12, 16]
    small = resolve_search_space(None, _groups(image=10))
    assert small["patch_size"] == [2, 4, 8]          # a 10x10 image fits no larger patch
    assert set(DEFAULT_SEARCH_SPACE) == set(space)


def test_search_space_changes_and_removals():
    space = resolve_search_space({"fusion": ["concat", "add"], "depth": None, "width": 64},
                                 _groups())
    assert space["fusion"] == ["concat", "add"] and space["width"] == 64
    assert "depth" not in space


@pytest.mark.parametrize("space, message", [
    ({"widht": [8]}, r"\['widht'\] are not build_minape arguments"),
    ({"depth": {"min": 4}}, r"search_space\['depth'\]=\{'min': 4\}; expected \{'min'"),
    ({"depth": {"min": 8, "max": 4}}, r"search_space\['depth'\]"),
    ({"width": []}, r"search_space\['width'\]=\[\]: expected at least one choice"),
    ({"width": [8, "16"]}, r"the choices must be of one type"),
    ({"width": "fitting"}, r"'fitting' is for patch_size only"),
])
def test_bad_search_space_is_a_clear_error(space, message):
    with pytest.raises(ValueError, match=message):
        resolve_search_space(space, _groups())


def test_no_fitting_patch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"none of \(2, 4, 8, 12, 16\) fits"):
        resolve_search_space(None, _groups(image=1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(algorithm="grid"), r"algorithm='grid' is not known; expected one of \('random', "
                             r"'hyperband'\)"),
    (dict(max_trials=0), r"max_trials=0: expected an integer >= 1"),
    (dict(executions_per_trial=1.5), r"executions_per_trial=1.5"),
    (dict(algorithm="hyperband", hyperband_factor=1), r"hyperband_factor=1: expected an "
                                                      r"integer >= 2"),
])
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tune(TrainConfig(), tmp_path, **kwargs)


@pytest.mark.slow
def test_random_search_writes_the_best_hyperparameters(tmp_path):
    config = TrainConfig(dataset="demo", dataset_options={"n_tools": 5, "runs_per_tool": 8},
                         epochs=1, batch_size=8, verbose=0, seed=3)
    best = tune(config, tmp_path / "search", algorithm="random", max_trials=2,
                search_space=SPACE)

    with open(tmp_path / "search" / "best.json") as f:
        saved = json.load(f)
    assert saved["hyperparameters"] == best
    assert best["width"] in (8, 16) and best["depth"] in (1, 2)
    assert best["kernel_size"] == 3 and best["patch_size"] in (8, 16)
    assert saved["objective"] == "val_accuracy"
    assert 0.0 <= saved["val_accuracy"] <= 1.0
    assert saved["trials"] == 2 and saved["algorithm"] == "random"
    assert saved["model_kwargs"] == best             # no preset, no fixed model arguments
