"""An ensemble (``build_minape(ensemble=N)``) is one model: its members train each on its
own loss, and it saves, loads, exports and predicts like any other."""

import json

import keras
import numpy as np
import pytest

from minape_tf import build_minape, load_model
from minape_tf.deploy import export
from minape_tf.deploy.tflite import interpreter, run_model
from minape_tf.training.config import TrainConfig
from minape_tf.training.run import train

from harness import DEMO, SERIES, TINY, random_inputs, to_numpy


def test_ensemble_averages_its_members_and_round_trips(tmp_path):
    keras.utils.set_random_seed(3)
    model = build_minape([SERIES], 3, ensemble=3, **TINY)
    members = model.member_outputs()
    assert len(members) == 3 and model.get_layer("ensemble") is not None
    x = random_inputs(model, 4)
    each = [to_numpy(p) for p in keras.Model(model.inputs, members)(x)]
    assert not np.allclose(each[0], each[1])                 # different weights
    out = to_numpy(model(x))
    np.testing.assert_allclose(out, np.mean(each, axis=0), atol=1e-6)
    model.save(tmp_path / "e.keras")
    again = load_model(tmp_path / "e.keras")
    assert again.arguments["ensemble"] == 3
    np.testing.assert_allclose(to_numpy(again(x)), out, atol=1e-6)
    info = export(tmp_path / "e.keras", tmp_path / "out", formats="tflite", verbose=False)
    got = run_model(interpreter(tmp_path / "out" / info["files"]["tflite_float32"]["path"]),
                    x)
    assert np.max(np.abs(got - out)) <= 1e-5


def test_ensemble_arguments_are_checked():
    with pytest.raises(ValueError, match="ensemble=0"):
        build_minape([SERIES], 3, ensemble=0, **TINY)
    with pytest.raises(ValueError, match="ensemble reads single observations"):
        build_minape([SERIES], 3, ensemble=2, sequence_length=3, **TINY)


def test_an_ensemble_run_trains_every_member_and_saves_one_model(tmp_path):
    config = TrainConfig(**{**DEMO, "model": dict(TINY, ensemble=2), "epochs": 2,
                            "modalities": "series"})
    result = train(config, tmp_path / "run", log=lambda *a: None)
    model = load_model(tmp_path / "run")
    assert model.arguments["ensemble"] == 2 and len(model.outputs) == 1
    history = result.history
    assert any("softmax_member1" in key for key in history[0])   # member 1 has its own loss
    x = random_inputs(model, 2)
    each = [to_numpy(p) for p in keras.Model(model.inputs, model.member_outputs())(x)]
    np.testing.assert_allclose(to_numpy(model(x)), np.mean(each, axis=0), atol=1e-6)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["params"] == model.count_params()
