"""Export: self-describing .keras, SavedModel (fresh process), TFLite, and their errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from minape_tf import ImageGroup, SeriesGroup, build_minape
from minape_tf.data import DataError, Source, make_dataset
from minape_tf.deploy import export
from minape_tf.models.saving import load_minape
from minape_tf.deploy.tflite import interpreter, run_model

from harness import SMALL

TINY = SMALL["minape"]
AUDIO = SeriesGroup("audio", channels=1, sample_rate=16000, source_rate=8000, length=12000,
                    n_fft=512, hop=256, n_mels=24, normalize="peak", inputs=("audio",))
TOOL = ImageGroup("tool", channels=3, size=(32, 48), inputs=("tool",))
SPEC = ImageGroup("spec", channels=9, size=(32, 32), inputs=("specX", "specY", "specZ"),
                  modality="series")
CLASSES = ["sharp", "used", "dulled"]


def _multimodal():
    keras.utils.set_random_seed(3)
    return build_minape([TOOL, SPEC, AUDIO], 3, class_names=CLASSES, **TINY)


def _real_observations(mudestreda_dir, fsdd_files):
    """Six observations pairing Mudestreda sample images with FSDD recordings."""
    root = mudestreda_dir / "dataset_original"
    ids = sorted(p.stem for p in (root / "tool").glob("*.jpg"))[:len(fsdd_files)]
    inputs = {"tool": [(str(root / "tool" / f"{i}.jpg"),) for i in ids],
              "spec": [tuple(str(root / f"spec{a}" / f"{i}.png") for a in "XYZ") for i in ids],
              "audio": [(f,) for f in fsdd_files]}
    return Source(inputs=inputs, labels=np.zeros(len(ids), np.int64), classes=CLASSES[:1],
                  ids=ids)


def _exported_multimodal(tmp_path, mudestreda_dir, fsdd_files):
    """A multimodal model saved as ``m.keras`` and exported as a SavedModel to ``out``:
    ``(real observations, Keras probabilities, export.json's content)``."""
    model = _multimodal()
    source = _real_observations(mudestreda_dir, fsdd_files)
    expected, _ = _keras_probabilities(model, source)
    model.save(tmp_path / "m.keras")
    info = export(tmp_path / "m.keras", tmp_path / "out", formats="savedmodel", verbose=False)
    return source, expected, info


def _keras_probabilities(model, source):
    x, _ = next(iter(make_dataset(source, list(model.groups), training=False,
                                  batch_size=len(source), cache=False, augment=False)))
    return model.predict(x, verbose=0), x


@pytest.mark.backend
def test_load_model_gives_back_groups_classes_and_predictions(tmp_path):
    model = _multimodal()
    assert model.get_config()["groups"][2]["kind"] == "series"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded).__name__ == "Minape"
    assert loaded.groups == model.groups and loaded.class_names == CLASSES
    assert loaded.arguments == model.arguments and loaded.arguments["width"] == 8
    rng = np.random.default_rng(0)
    x = {g.name: rng.random((2, *g.input_shape())).astype("float32") for g in model.groups}
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_model_that_does_not_describe_itself_is_refused_naming_the_file(tmp_path):
    """Export, predict and adapt take self-describing models (Minape); a plain Keras model
    in a run folder is refused by name, not rebuilt from a guess."""
    model = _multimodal()
    plain = keras.Model(model.inputs, model.outputs)
    plain.save(tmp_path / "model.keras")
    with pytest.raises(DataError, match=r"model.keras.*without its groups and classes"):
        load_minape(tmp_path / "model.keras")
    with pytest.raises(DataError, match=str(tmp_path)):
        load_minape(tmp_path)


_FRESH = """
import sys, numpy as np, soundfile as sf, tensorflow as tf
path, out, rows = sys.argv[1], sys.argv[2], [line.split() for line in sys.argv[3:]]
serve = tf.saved_model.load(path).signatures["serving_default"]
result = []
for tool, sx, sy, sz, audio in rows:
    raw = lambda p: tf.constant([open(p, "rb").read()])
    series = sf.read(audio, dtype="float32", always_2d=True)[0][None]
    got = serve(tool=raw(tool), specX=raw(sx), specY=raw(sy), specZ=raw(sz), audio=series)
    assert got["class_names"].shape == (1, 3)
    result.append(got["probabilities"].numpy()[0])
np.save(out, np.array(result))
"""


@pytest.mark.slow
def test_savedmodel_in_a_fresh_process_equals_keras_on_real_files(tmp_path, mudestreda_dir,
                                                                   fsdd_files):
    source, expected, info = _exported_multimodal(tmp_path, mudestreda_dir, fsdd_files)
    saved = tmp_path / "out" / info["files"]["savedmodel"]["path"]
    assert saved.parts[-2:] == ("m", "1") and (saved / "saved_model.pb").is_file()
    rows = [" ".join([*source.inputs["tool"][i], *source.inputs["spec"][i],
                      *source.inputs["audio"][i]]) for i in range(len(source))]
    script = tmp_path / "serve.py"
    script.write_text(_FRESH)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # TF only, no minape_tf
    subprocess.run([sys.executable, str(script), str(saved), str(tmp_path / "p.npy"), *rows],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    served = np.load(tmp_path / "p.npy")
    assert np.max(np.abs(served - expected)) <= 1e-5


def test_signature_refuses_wrong_requests_naming_the_input(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_minape([AUDIO], 3, class_names=CLASSES, **TINY)
    model.save(tmp_path / "a.keras")
    info = export(tmp_path / "a.keras", tmp_path / "out", formats="savedmodel", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "out" / info["files"]["savedmodel"]["path"]))
    serve = loaded.signatures["serving_default"]
    good = serve(audio=tf.random.normal((2, 7000, 1)))  # any length: trimmed/padded
    assert good["probabilities"].shape == (2, 3)
    assert [c.decode() for c in good["class_names"].numpy()[0]] == CLASSES
    for bad, words in [(tf.random.normal((2, 7000, 2)), "input audio: .*with 1 channels"),
                       (tf.random.normal((2, 7000)), "input audio: expected float32 series"),
                       (tf.zeros((2, 0, 1)), "input audio: empty"),
                       (tf.zeros((0, 100, 1)), "input audio: the batch is empty"),
                       (tf.zeros((2, 100, 1), tf.float64), "float tensor but is a double")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=words):
            serve(audio=bad)


def test_tflite_float32_equals_keras_and_the_feature_stage_the_pipeline(tmp_path, fsdd_files):
    keras.utils.set_random_seed(1)
    model = build_minape([AUDIO], 3, class_names=CLASSES, **TINY)
    model.save(tmp_path / "a.keras")
    info = export(tmp_path / "a.keras", tmp_path / "out", formats="tflite",
                  quantizations=("float32", "float16"), features_in_model=True, verbose=False)
    files = info["files"]
    assert not any(files[k]["select_ops"] for k in files)
    assert "RFFT2D" in files["features_audio"]["ops"]
    on_disk = json.loads((tmp_path / "out" / "export.json").read_text())
    assert on_disk["classes"] == CLASSES and on_disk["files"]["tflite_float32"]["bytes"] > 0
    source = Source(inputs={"audio": [(f,) for f in fsdd_files]},
                    labels=np.zeros(len(fsdd_files), np.int64), classes=["?"],
                    ids=list(fsdd_files))
    expected, x = _keras_probabilities(model, source)
    lite = interpreter(tmp_path / "out" / files["tflite_float32"]["path"])
    got = run_model(lite, {"audio": x["audio"].numpy()})
    assert np.max(np.abs(got - expected)) <= 1e-4
    half = run_model(interpreter(tmp_path / "out" / files["tflite_float16"]["path"]),
                     {"audio": x["audio"].numpy()})
    assert np.max(np.abs(half - expected)) <= 1e-2
    raw, _ = next(iter(make_dataset(source, [AUDIO], training=False, batch_size=len(source),
                                    features_in_model=True)))
    stage = interpreter(tmp_path / "out" / files["features_audio"]["path"])
    features = stage.get_signature_runner()(series=raw["audio"].numpy())["features"]
    assert np.max(np.abs(features - x["audio"].numpy())) <= 1e-3
    inside = run_model(interpreter(tmp_path / "out" / files["tflite_raw_float32"]["path"]),
                       {"audio": raw["audio"].numpy()})
    assert np.max(np.abs(inside - expected)) <= 1e-4


@pytest.mark.slow
def test_quantized_variants_keep_the_predictions_on_a_held_out_speaker(tmp_path, fsdd_dir):
    from minape_tf.data.registry import load_dataset
    from minape_tf.training.run import train

    config = {"dataset": "fsdd", "data_dir": str(fsdd_dir), "epochs": 8, "steps_per_epoch": 40,
              "batch_size": 32, "learning_rate": 5e-3, "warmup_epochs": 0.25, "verbose": 0,
              "early_stopping": 0, "model": dict(width=64, depth=4, patch_size=4, kernel_size=5)}
    run = train(config, tmp_path / "run")
    variants = ("float32", "dynamic", "int8", "int8_mixed")
    info = export(tmp_path / "run", tmp_path / "out", formats="tflite", quantizations=variants,
                  calibration=300, verbose=False)
    files = info["files"]
    assert "QUANTIZE" in files["tflite_int8"]["ops"] and "GELU" in files["tflite_int8_mixed"]["ops"]
    assert files["tflite_dynamic"]["bytes"] < 0.6 * files["tflite_float32"]["bytes"]
    loaded = load_dataset("fsdd", str(fsdd_dir))  # the run's split: speaker theo held out
    test = loaded.source.subset(loaded.splits["test"], run.groups)
    assert len(test) == 500 and all("_theo_" in i for i in test.ids)
    x, y = next(iter(make_dataset(test, run.groups, training=False, batch_size=500,
                                  cache=False)))
    x, y = x["audio"].numpy(), y.numpy()
    expected = run.model.predict(x, verbose=0).argmax(-1)
    predicted = {q: run_model(interpreter(tmp_path / "out" / files[f"tflite_{q}"]["path"]),
                              {"audio": x}).argmax(-1) for q in variants}
    accuracy = {"keras": np.mean(expected == y),
                **{q: np.mean(p == y) for q, p in predicted.items()}}
    agreement = {q: np.mean(p == expected) for q, p in predicted.items()}
    print(f"held-out speaker theo, 500 recordings: accuracy {accuracy}, agreement with Keras "
          f"{agreement}")
    assert accuracy["keras"] > 0.6  # trained: far above the 0.1 of chance
    # dynamic (int8 weights) is the size pick: the float model's predictions
    assert agreement["dynamic"] >= 0.98
    assert abs(accuracy["dynamic"] - accuracy["keras"]) <= 0.01 + 1e-9
    # int8 convolutions with the rest in float keep nearly all of them; full integer fewer
    assert agreement["int8_mixed"] >= 0.97
    assert agreement["int8"] >= 0.85 and agreement["float32"] >= 0.998
    # the export measured the same on the run's own test split and wrote it down
    for q in variants:
        measured = files[f"tflite_{q}"]["agreement"]
        assert measured["observations"] == 500 and measured["data"] == "test split of the run"
        assert abs(measured["share"] - agreement[q]) <= 0.002, q
    # what a plain `minape export` writes keeps >= 98% of the predictions
    defaults = export(tmp_path / "run", tmp_path / "default", formats="tflite", verbose=False)
    written = [k for k, f in defaults["files"].items() if "agreement" in f]
    assert sorted(written) == ["tflite_dynamic", "tflite_float16", "tflite_float32"]
    assert all(defaults["files"][k]["agreement"]["share"] >= 0.98 for k in written)


@pytest.mark.slow
def test_manifest_predict_and_uint8_array_signature_equal_keras(tmp_path, mudestreda_dir,
                                                                fsdd_files):
    from minape_tf.deploy import predict

    source, expected, _ = _exported_multimodal(tmp_path, mudestreda_dir, fsdd_files)
    lines = ["id,tool,spec.x,spec.y,spec.z,audio"]
    lines += [",".join([i, *source.inputs["tool"][k], *source.inputs["spec"][k],
                        *source.inputs["audio"][k]]) for k, i in enumerate(source.ids)]
    (tmp_path / "observations.csv").write_text("\n".join(lines) + "\n")
    for target in (tmp_path / "m.keras", tmp_path / "out"):
        rows, skipped, classes = predict(target, manifest=tmp_path / "observations.csv",
                                         batch_size=4, progress=False)
        assert not skipped and [r["id"] for r in rows] == source.ids
        got = np.array([[r[c] for c in classes] for r in rows])
        assert np.max(np.abs(got - expected)) <= 1e-5
    # The same observations as uint8 arrays (decoded by Pillow, as a device would) and raw
    # series, through serving_arrays.
    from PIL import Image

    serve = tf.saved_model.load(str(tmp_path / "out" / "m" / "1")).signatures["serving_arrays"]
    for k in range(2):
        pixels = {name: np.asarray(Image.open(path).convert("RGB"))[None]
                  for name, path in zip(("tool", "specX", "specY", "specZ"),
                                        [*source.inputs["tool"][k], *source.inputs["spec"][k]])}
        audio = tf.audio.decode_wav(tf.io.read_file(source.inputs["audio"][k][0]))[0][None]
        got = serve(audio=audio, **pixels)["probabilities"].numpy()[0]
        assert np.max(np.abs(got - expected[k])) <= 1e-5
    with pytest.raises(tf.errors.InvalidArgumentError, match="input tool: .*3 channels"):
        serve(audio=audio, **dict(pixels, tool=tf.zeros((1, 40, 40, 4), tf.uint8)))


_ONNX_ALONE = """
import sys
import numpy as np
import onnxruntime
assert "tensorflow" not in sys.modules
features = dict(np.load(sys.argv[2]))
model = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
np.save(sys.argv[3], model.run(["probabilities"], features)[0])
"""


def test_onnx_runtime_equals_keras_on_real_files_and_its_feature_stage_the_pipeline(
        tmp_path, mudestreda_dir, fsdd_files):
    from minape_tf.deploy import predict
    from minape_tf.deploy.onnx import run_model, session

    model = _multimodal()
    source = _real_observations(mudestreda_dir, fsdd_files)
    expected, x = _keras_probabilities(model, source)
    model.save(tmp_path / "m.keras")
    info = export(tmp_path / "m.keras", tmp_path / "out", formats="onnx", verbose=False)
    assert set(info["files"]) == {"onnx", "onnx_features_audio"}
    np.savez(tmp_path / "x.npz", **{k: v.numpy() for k, v in x.items()})
    script = tmp_path / "alone.py"
    script.write_text(_ONNX_ALONE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # onnxruntime only
    subprocess.run([sys.executable, str(script), str(tmp_path / "out" / "m.onnx"),
                    str(tmp_path / "x.npz"), str(tmp_path / "p.npy")],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    assert np.max(np.abs(np.load(tmp_path / "p.npy") - expected)) <= 1e-5
    raw, _ = next(iter(make_dataset(source, [AUDIO], training=False, batch_size=len(source),
                                    features_in_model=True)))
    stage = session(tmp_path / "out" / "m_audio_features.onnx")
    features = run_model(stage, {"series": raw["audio"].numpy()})
    assert np.max(np.abs(features - x["audio"].numpy())) <= 1e-4
    lines = ["id,tool,spec.x,spec.y,spec.z,audio"]
    lines += [",".join([i, *source.inputs["tool"][k], *source.inputs["spec"][k],
                        *source.inputs["audio"][k]]) for k, i in enumerate(source.ids)]
    (tmp_path / "observations.csv").write_text("\n".join(lines) + "\n")
    rows, skipped, classes = predict(tmp_path / "out", manifest=tmp_path / "observations.csv",
                                     use="onnx", progress=False)
    got = np.array([[r[c] for c in classes] for r in rows])
    assert not skipped and np.max(np.abs(got - expected)) <= 1e-5


def test_a_model_with_features_inside_exports_onnx_with_the_features_outside(tmp_path):
    from minape_tf.deploy.onnx import run_model, session

    keras.utils.set_random_seed(4)
    inside = build_minape([AUDIO], 3, class_names=CLASSES, features_in_model=True, **TINY)
    inside.save(tmp_path / "in.keras")
    info = export(tmp_path / "in.keras", tmp_path / "out", formats="onnx", verbose=False)
    assert info["files"]["onnx"]["features"] == "outside"
    raw = np.random.default_rng(0).normal(0, 0.1, (3, AUDIO.length, 1)).astype("float32")
    features = run_model(session(tmp_path / "out" / "in_audio_features.onnx"), {"series": raw})
    got = run_model(session(tmp_path / "out" / "in.onnx"), {"audio": features})
    np.testing.assert_allclose(got, np.asarray(inside({"audio": raw}, training=False)),
                               atol=1e-5)


def test_tflite_writes_the_tiled_depthwise_form_with_keras_probabilities(tmp_path, fsdd_files):
    keras.utils.set_random_seed(5)
    model = build_minape([AUDIO], 3, class_names=CLASSES, width=8, depth=2, patch_size=2,
                         kernel_size=13)
    model.save(tmp_path / "k13.keras")
    info = export(tmp_path / "k13.keras", tmp_path / "out", formats="tflite",
                  quantizations=("float32",), verbose=False)
    assert info["depthwise"] == "tiles" and "25 taps" in info["depthwise_reason"]
    conv = export(tmp_path / "k13.keras", tmp_path / "conv", formats="tflite",
                  quantizations=("float32",), depthwise="conv", verbose=False)
    source = Source(inputs={"audio": [(f,) for f in fsdd_files]},
                    labels=np.zeros(len(fsdd_files), np.int64), classes=["?"],
                    ids=list(fsdd_files))
    expected, x = _keras_probabilities(model, source)
    for folder, described in (("out", info), ("conv", conv)):
        lite = interpreter(tmp_path / folder / described["files"]["tflite_float32"]["path"])
        got = run_model(lite, {"audio": x["audio"].numpy()})
        assert np.max(np.abs(got - expected)) <= 1e-5, folder
    ops = [op["op_name"] for op in interpreter(
        tmp_path / "out" / info["files"]["tflite_float32"]["path"],
        delegates=False)._get_ops_details()]
    assert ops.count("DEPTHWISE_CONV_2D") == 2 * 7        # two blocks, seven tiles each


def test_one_dimensional_pathway_exports_to_tflite_and_onnx_equal_to_keras(tmp_path, fsdd_files):
    from minape_tf.deploy import onnx

    group = SeriesGroup("audio", channels=1, sample_rate=1000, source_rate=8000, length=600,
                        representation="raw", normalize="peak", patch_size=4, inputs=("audio",))
    keras.utils.set_random_seed(2)
    model = build_minape([group], 3, class_names=CLASSES, **dict(TINY, kernel_size=9))
    assert model.get_layer("audio_pool").__class__.__name__ == "GlobalAveragePooling1D"
    model.save(tmp_path / "r.keras")
    info = export(tmp_path / "r.keras", tmp_path / "out", formats="all",
                  features_in_model=True, verbose=False)
    files = info["files"]
    source = Source(inputs={"audio": [(f,) for f in fsdd_files]},
                    labels=np.zeros(len(fsdd_files), np.int64), classes=["?"],
                    ids=list(fsdd_files))
    expected, x = _keras_probabilities(model, source)
    assert x["audio"].shape[1:] == (600, 1)
    raw, _ = next(iter(make_dataset(source, [group], training=False, batch_size=len(source),
                                    features_in_model=True)))
    for key, inputs in (("tflite_float32", x), ("tflite_raw_float32", raw)):
        got = run_model(interpreter(tmp_path / "out" / files[key]["path"]),
                        {"audio": inputs["audio"].numpy()})
        assert np.max(np.abs(got - expected)) <= 1e-5, key
    got = onnx.run_model(onnx.session(tmp_path / "out" / files["onnx"]["path"]),
                         {"audio": x["audio"].numpy()})
    assert np.max(np.abs(got - expected)) <= 1e-5
    contract = json.loads((tmp_path / "out" / "export.json").read_text())
    assert contract["preprocessing"]["audio"]["features"]["representation"] == "raw"
