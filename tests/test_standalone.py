"""An export that stands alone: ``examples/edge_predict.py`` runs it in a process where
TensorFlow, Keras and minape-tf cannot be imported, from ``export.json`` alone, and gives
``minape predict``'s probabilities; ``export.json`` follows its JSON Schema; the SavedModel
takes a recording at another rate through ``serving_rates`` and refuses one it cannot
resample."""

import json
import os
import subprocess
import sys
from math import gcd
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from minape_tf import ImageGroup, SeriesGroup, build_minape
from minape_tf.deploy import export, predict
from minape_tf.outputs.export_folder import SCHEMA, ExportFolder

from harness import TINY

CLIENT = Path(__file__).resolve().parents[1] / "examples" / "edge_predict.py"
AUDIO = SeriesGroup("audio", channels=1, sample_rate=8000, length=6000, n_fft=256, hop=128,
                    n_mels=24, normalize="peak")
TOOL = ImageGroup("tool", channels=3, size=(32, 48))
SPEC = ImageGroup("spec", channels=9, size=(32, 32), inputs=("x", "y", "z"))
CLASSES = ["zero", "one", "two"]
# Runs a script with TensorFlow, Keras, JAX and minape-tf out of reach, as on a device.
_WITHOUT_TF = """
import runpy, sys
class NotHere:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "jax", "minape_tf", "tf_keras"):
            raise ImportError(f"{name} is not installed on this device")
sys.meta_path.insert(0, NotHere())
script, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def _client(*args):
    """``(classes, ids, probabilities)`` printed by the client, run without TensorFlow."""
    done = subprocess.run([sys.executable, "-c", _WITHOUT_TF, str(CLIENT), *map(str, args)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header, *rows = [line.split(",") for line in done.stdout.strip().splitlines()]
    assert header[:2] == ["id", "class"]
    return header[2:], [r[0] for r in rows], np.array([[float(v) for v in r[2:]]
                                                       for r in rows])


def _predicted(rows, classes):
    return np.array([[r[c] for c in classes] for r in rows])


@pytest.fixture(scope="module")
def audio_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    keras.utils.set_random_seed(5)
    build_minape([AUDIO], 3, class_names=CLASSES, **TINY).save(root / "m.keras")
    export(root / "m.keras", root / "export", quantizations=("float32",), verbose=False)
    return root


@pytest.mark.slow
def test_the_client_without_tensorflow_gives_minape_predicts_probabilities(
        audio_export, fsdd_files, tmp_path):
    """Recordings at the model's rate, at 44.1 kHz / 24 bits and in stereo, and series
    shorter than, as long as and longer than the model's length: the float32 TFLite and
    ONNX files through the client equal ``minape predict`` to 1e-5."""
    data, rate = sf.read(fsdd_files[1], dtype="float64")
    g = gcd(44100, rate)
    sf.write(tmp_path / "fast.wav", resample_poly(data, 44100 // g, rate // g), 44100,
             subtype="PCM_24")
    mono, _ = sf.read(fsdd_files[2], dtype="float32")
    sf.write(tmp_path / "stereo.wav", np.stack([mono, 0.5 * mono], 1), rate, subtype="PCM_16")
    noise = np.random.default_rng(0).normal(size=(7000, 1)).astype("float32")
    for n in (4000, 6000, 7000):          # shorter than, as long as, longer than 6000
        np.save(tmp_path / f"series_{n}.npy", noise[:n])
    files = [fsdd_files[0], tmp_path / "fast.wav", tmp_path / "stereo.wav",
             *(tmp_path / f"series_{n}.npy" for n in (4000, 6000, 7000))]
    for use in ("tflite_float32", "onnx"):
        rows, skipped, classes = predict(audio_export / "export", files, use=use,
                                         progress=False, say=lambda line: None)
        assert not skipped
        names, ids, got = _client(audio_export / "export", *files, "--use", use)
        assert names == classes and ids == [str(f) for f in files]
        assert np.max(np.abs(got - _predicted(rows, classes))) <= 1e-5, use


@pytest.mark.slow
def test_the_client_reads_a_multimodal_manifest_of_real_images_and_recordings(
        tmp_path, mudestreda_dir, fsdd_files):
    """JPEG photos, PNG spectrogram triples and WAVs through a manifest: the client
    decodes, resizes and stacks them as the pipeline does (1e-5)."""
    root = mudestreda_dir / "dataset_original"
    ids = sorted(p.stem for p in (root / "tool").glob("*.jpg"))[:4]
    lines = ["id,tool,spec.x,spec.y,spec.z,audio"]
    lines += [",".join([i, str(root / "tool" / f"{i}.jpg"),
                        *(str(root / f"spec{a}" / f"{i}.png") for a in "XYZ"), f])
              for i, f in zip(ids, fsdd_files)]
    (tmp_path / "observations.csv").write_text("\n".join(lines) + "\n")
    keras.utils.set_random_seed(6)
    build_minape([TOOL, SPEC, AUDIO], 3, class_names=CLASSES, **TINY).save(tmp_path / "m.keras")
    export(tmp_path / "m.keras", tmp_path / "out", formats="tflite",
           quantizations=("float32",), verbose=False)
    rows, skipped, classes = predict(tmp_path / "out", manifest=tmp_path / "observations.csv",
                                     progress=False)
    _, got_ids, got = _client(tmp_path / "out", "--manifest", tmp_path / "observations.csv")
    assert not skipped and got_ids == ids
    assert np.max(np.abs(got - _predicted(rows, classes))) <= 1e-5


def _validate(described):
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA) as f:
        jsonschema.validate(described, json.load(f))


@pytest.mark.parametrize("formats", ["savedmodel", "tflite", "onnx"])
def test_export_json_follows_its_schema_and_names_no_machine_path(audio_export, tmp_path,
                                                                   formats):
    export(audio_export / "m.keras", tmp_path / "out", formats=formats,
           quantizations=("float32", "dynamic"), verbose=False)
    described = json.loads((tmp_path / "out" / "export.json").read_text())
    _validate(described)
    assert described["source"] == "m.keras" and str(tmp_path) not in json.dumps(described)
    assert not (tmp_path / "out" / ".minape.lock").exists()
    rule = described["preprocessing"]["audio"]
    assert (rule["rate"], rule["length"], rule["level_normalization"]) == (8000, 6000, "peak")
    assert "keep the first `length` samples" in rule["fit"]
    assert described["glossary"]["equalize"].startswith("Give the group's pathway")
    for entry in described["files"].values():
        if entry["format"] != "savedmodel":
            assert entry["inputs"] and entry["outputs"]
        if entry["role"] == "model" and entry.get("features") == "outside":
            features = described["files"][entry["pairs_with"]["audio"]]
            assert features["role"] == "features" and features["format"] == entry["format"]


def test_a_history_models_export_json_follows_the_schema(tmp_path):
    keras.utils.set_random_seed(7)
    build_minape([AUDIO], 3, class_names=CLASSES, sequence_length=3, learner="tempmixer",
                 **TINY).save(tmp_path / "h.keras")
    described = export(tmp_path / "h.keras", tmp_path / "out", formats="tflite",
                       quantizations=("float32",), verbose=False)
    _validate(json.loads((tmp_path / "out" / "export.json").read_text()))
    assert described["histories"]["steps"] == 3
    assert described["files"]["tflite_head"]["role"] == "head"


def test_a_model_file_swapped_after_the_export_is_refused_by_name(audio_export, tmp_path,
                                                                  fsdd_files):
    from minape_tf.data import DataError

    out = tmp_path / "copy"
    export(audio_export / "m.keras", out, formats="tflite", quantizations=("float32",),
           verbose=False)
    info = ExportFolder(out).read()
    target = out / info["files"]["tflite_float32"]["path"]
    target.write_bytes((out / info["files"]["features_audio"]["path"]).read_bytes())
    with pytest.raises(DataError, match=f"{target.name}: not the file .*export.json "
                                        "describes"):
        predict(out, fsdd_files[:1], use="tflite_float32", progress=False)


@pytest.mark.slow
def test_the_savedmodel_takes_another_rate_through_serving_rates_or_refuses_it(
        audio_export, fsdd_files):
    import tensorflow as tf

    signatures = tf.saved_model.load(str(audio_export / "export" / "m" / "1")).signatures
    data, rate = sf.read(fsdd_files[0], dtype="float32")
    at_rate = signatures["serving_default"](audio=data[None, :, None])["probabilities"]
    fast = resample_poly(data, 2, 1).astype("float32")        # the same sound at 16 kHz
    resampled = signatures["serving_rates"](audio=fast[None, :, None],
                                            audio_rate=tf.constant(16000))["probabilities"]
    np.testing.assert_allclose(resampled.numpy(), at_rate.numpy(), atol=5e-3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"audio_rate: a rate serving_rates does not resample from; it "
                             r"takes 8000, 11025, 16000"):
        signatures["serving_rates"](audio=fast[None, :, None], audio_rate=tf.constant(12345))
    assert os.path.isfile(audio_export / "export" / "export.json")
