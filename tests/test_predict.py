"""``minape predict``: files to rows with a .keras file, a SavedModel or a TFLite model."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import soundfile as sf

from minape_tf import SeriesGroup, build_minape
from minape_tf.cli.main import main
from minape_tf.data import DataError, make_dataset
from minape_tf.adaptation.batchnorm import batchnorm_layers
from minape_tf.adaptation.statistics import adapt_batchnorm
from minape_tf.deploy import export, predict
from minape_tf.models.saving import load_minape
from minape_tf.deploy.adapted import adapt
from minape_tf.deploy.predictor import files_source

GROUP = SeriesGroup("audio", channels=1, sample_rate=8000, source_rate=8000, length=6000,
                    n_fft=256, hop=128, n_mels=24, normalize="peak", inputs=("audio",))
CLASSES = ["zero", "one", "two"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fsdd_files):
    """Four real recordings plus a corrupt, an empty and a stereo WAV."""
    root = tmp_path_factory.mktemp("recordings")
    for f in fsdd_files[:4]:
        shutil.copy(f, root)
    (root / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    sf.write(root / "empty.wav", np.zeros((0, 1), np.float32), 8000, subtype="PCM_16")
    sf.write(root / "stereo.wav", np.zeros((800, 2), np.float32), 8000, subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    keras.utils.set_random_seed(2)
    build_minape([GROUP], 3, width=8, depth=1, patch_size=4, kernel_size=3,
                 class_names=CLASSES).save(root / "m.keras")
    export(root / "m.keras", root / "export", quantizations=("float32",), verbose=False)
    return root


@pytest.mark.slow
def test_predict_on_a_folder_with_bad_files_writes_the_others(folder, exported, fsdd_files):
    good = sorted([str(folder / "stereo.wav")] +       # mixed down to mono, and said
                  [str(folder / f.split("/")[-1]) for f in fsdd_files[:4]])
    results = {}
    for name, path, use in [("keras", exported / "m.keras", None),
                            ("savedmodel", exported / "export", None),
                            ("tflite", exported / "export", "tflite_float32")]:
        said = []
        rows, skipped, classes = predict(path, [folder], use=use, progress=False,
                                         say=said.append)
        assert classes == CLASSES and [r["id"] for r in rows] == good
        assert {w.split("/")[-1] for w, _ in skipped} == {"corrupt.wav", "empty.wav"}
        reasons = dict((w.split("/")[-1], r) for w, r in skipped)
        assert "0 samples" in reasons["empty.wav"]
        assert said == ["resampled or mixed down 1 file(s) to 8000 Hz (group 'audio'): "
                        "stereo.wav (8000 Hz, 2 channels mixed down)"]
        probabilities = np.array([[r[c] for c in CLASSES] for r in rows])
        assert all(r["class"] == CLASSES[int(np.argmax(p))] for r, p in zip(rows, probabilities))
        results[name] = probabilities
    assert np.max(np.abs(results["savedmodel"] - results["keras"])) <= 1e-5
    assert np.max(np.abs(results["tflite"] - results["keras"])) <= 1e-4
    with pytest.raises(DataError, match="corrupt.wav"):
        predict(exported / "m.keras", [folder], strict=True, progress=False)


def test_predict_command_writes_json_and_reports_skipped_files(folder, exported, fsdd_files,
                                                               tmp_path, capsys):
    out = tmp_path / "rows.json"
    files = [str(folder / "corrupt.wav"), fsdd_files[0]]
    status = main(["predict", str(exported / "export"), *files, "--json", "--out", str(out)])
    assert status == 1
    rows = json.loads(out.read_text())
    assert [r["id"] for r in rows] == [fsdd_files[0]]
    assert set(rows[0]) == {"id", "class", *CLASSES}
    err = capsys.readouterr().err
    assert "skipped" in err and "corrupt.wav" in err
    assert main(["predict", str(exported / "export"), fsdd_files[0], "--use", "nope"]) == 1
    assert "tflite_float32" in capsys.readouterr().err


def test_adapt_reestimates_the_batch_norms_on_the_files_and_saves_a_run_folder(
        exported, fsdd_dir, folder, tmp_path, capsys):
    george = sorted(str(p) for p in (fsdd_dir / "recordings").glob("*_george_1.wav"))
    assert len(george) == 10
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(exported / "m.keras", run / "model.keras")
    (run / "config.json").write_text('{"seed": 3}')
    out = tmp_path / "adapted"
    status = main(["adapt", str(run), *george, str(folder / "corrupt.wav"), "--out", str(out)])
    assert status == 1 and "corrupt.wav" in capsys.readouterr().err      # said, not lost
    assert (out / "config.json").read_text() == '{"seed": 3}'
    info = json.loads((out / "adaptation.json").read_text())
    assert info["observations"] == 10 and "corrupt.wav" in info["skipped"][0]
    # The saved statistics are those of adapting by hand on the same recordings.
    by_hand, _ = load_minape(exported / "m.keras")
    original = [b.moving_mean.numpy().copy() for b in batchnorm_layers(by_hand)]
    adapt_batchnorm(by_hand, make_dataset(files_source([GROUP], george), [GROUP],
                                          training=False, batch_size=32, cache=False,
                                          augment=False))
    adapted, _ = load_minape(out)
    for a, b, o in zip(batchnorm_layers(adapted), batchnorm_layers(by_hand), original):
        np.testing.assert_allclose(a.moving_mean.numpy(), b.moving_mean.numpy(), atol=1e-5)
        assert not np.allclose(a.moving_mean.numpy(), o)
    rows, _, _ = predict(out, george, progress=False)
    plain, _, _ = predict(exported / "m.keras", george, progress=False)
    assert not np.allclose([r["zero"] for r in rows], [r["zero"] for r in plain], atol=1e-6)
    # Too few observations, or an existing --out, are refused by name.
    with pytest.raises(DataError, match="3 readable observations"):
        adapt(exported / "m.keras", george[:3], out=tmp_path / "x.keras")
    assert main(["adapt", str(run), *george, "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["adapt", str(run), *george, "--out", str(folder), "--overwrite"]) == 1
    assert "not a run folder" in capsys.readouterr().err and (folder / "corrupt.wav").exists()
    assert main(["adapt", str(run), *george, "--out", str(run), "--overwrite"]) == 1
    assert "the model itself" in capsys.readouterr().err
    assert main(["adapt", str(run / "model.keras"), *george, "--out", str(run),
                 "--overwrite"]) == 1
    assert "holds it" in capsys.readouterr().err and (run / "model.keras").exists()
    assert main(["adapt", str(exported / "m.keras"), *george, "--out",
                 str(tmp_path / "a.keras")]) == 0
    assert (tmp_path / "a.keras").is_file()


def test_adapt_self_training_fine_tunes_the_weights_without_labels(exported, fsdd_dir,
                                                                 tmp_path):
    george = sorted(str(p) for p in (fsdd_dir / "recordings").glob("*_george_[12].wav"))
    out = tmp_path / "self-trained.keras"
    # 3 classes need 15 recordings; 10 are refused, by what self-training needs.
    with pytest.raises(DataError, match="need at least 15 to self-train"):
        adapt(exported / "m.keras", george[:10], out=out, self_training=True)
    assert main(["adapt", str(exported / "m.keras"), *george, "--out", str(out),
                 "--self-train", "--seed", "1"]) == 0
    original, _ = load_minape(exported / "m.keras")
    tuned, _ = load_minape(out)
    kernels = [(a, b) for a, b in zip(original.trainable_weights, tuned.trainable_weights)]
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in kernels)   # weights, too
    bn_only = tmp_path / "bn-only.keras"
    adapt(exported / "m.keras", george, out=bn_only)
    assert all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(
        original.trainable_weights, load_minape(bn_only)[0].trainable_weights))
    folder_out = tmp_path / "self-trained"
    info = adapt(exported / "m.keras", george, out=folder_out, self_training=True, seed=1)
    assert info["observations"] == 20 and len(info["self_training"]["rounds"]) == 3
    assert json.loads((folder_out / "adaptation.json").read_text())["self_training"] == \
        info["self_training"]
    for a, b in zip(tuned.weights, load_minape(folder_out)[0].weights):   # seeded
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    balanced = tmp_path / "balanced"
    assert main(["adapt", str(exported / "m.keras"), *george, "--out", str(balanced),
                 "--self-train", "--balanced", "--seed", "1"]) == 0
    said = json.loads((balanced / "adaptation.json").read_text())["self_training"]
    assert said["balanced"] and not info["self_training"]["balanced"]


def test_an_export_json_that_claims_histories_its_files_lack_is_refused(exported, tmp_path,
                                                                          fsdd_files):
    described = json.loads((exported / "export" / "export.json").read_text())
    assert described["sequence_length"] == 1
    history = tmp_path / "export"
    shutil.copytree(exported / "export", history)
    described["sequence_length"] = 3
    (history / "export.json").write_text(json.dumps(described))
    with pytest.raises(DataError, match=r"m/1: a corrupt .*no \['head'\] signature"):
        predict(history, fsdd_files[:1], progress=False)       # the files do not match
    with pytest.raises(DataError, match=r"tflite_head"):
        predict(history, fsdd_files[:1], use="tflite_float32", progress=False)


def test_a_truncated_or_corrupt_model_is_called_corrupt_naming_the_file(exported, tmp_path,
                                                                       fsdd_files, capsys):
    whole = (exported / "m.keras").read_bytes()
    for name, content in (("half.keras", whole[:len(whole) // 2]), ("text.keras", b"hello")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=rf"{name}: not a .keras file.*truncated or corrupt"):
            load_minape(tmp_path / name)
    assert main(["predict", str(tmp_path / "half.keras"), str(fsdd_files[0])]) == 1
    assert "half.keras: not a .keras file" in capsys.readouterr().err

    def broken(what, damage):
        copy = tmp_path / what
        shutil.copytree(exported / "export", copy)
        damage(copy)
        return copy

    tflite = broken("tflite", lambda d: (d / "m_float32.tflite").write_bytes(b"\0" * 64))
    with pytest.raises(DataError, match=r"m_float32.tflite: not the file .*export.json "
                                        r"describes \(its SHA-256 differs"):
        predict(tflite, fsdd_files[:1], use="tflite_float32", progress=False)
    saved = broken("saved", lambda d: (d / "m" / "1" / "saved_model.pb").write_bytes(b"junk"))
    with pytest.raises(DataError, match=r"m/1: not the file"):
        predict(saved, fsdd_files[:1], progress=False)

    def undescribed(d):            # an export.json without digests: the runtime's own check
        info = json.loads((d / "export.json").read_text())
        for entry in info["files"].values():
            entry.pop("sha256")
        (d / "export.json").write_text(json.dumps(info))
        (d / "m_float32.tflite").write_bytes(b"\0" * 64)
        (d / "m" / "1" / "saved_model.pb").write_bytes(b"junk")

    both = broken("both", undescribed)
    with pytest.raises(DataError, match=r"m_float32.tflite: a corrupt or truncated tflite_float"):
        predict(both, fsdd_files[:1], use="tflite_float32", progress=False)
    with pytest.raises(DataError, match=r"m/1: a corrupt or truncated savedmodel"):
        predict(both, fsdd_files[:1], progress=False)
    described = broken("described", lambda d: (d / "export.json").write_text('{"files": '))
    with pytest.raises(DataError, match=r"export.json: corrupt"):
        predict(described, fsdd_files[:1], progress=False)


def test_a_44k_24_bit_copy_of_a_recording_gets_the_class_of_the_original(exported, tmp_path,
                                                                         fsdd_files, capsys):
    from math import gcd

    from scipy.signal import resample_poly

    originals = fsdd_files[:4]
    copies = []
    for f in originals:
        data, rate = sf.read(f, dtype="float64")
        g = gcd(44100, rate)
        copy = tmp_path / f"{os.path.basename(f)[:-4]}_44k.wav"
        sf.write(copy, resample_poly(data, 44100 // g, rate // g), 44100, subtype="PCM_24")
        copies.append(copy)
    for use in (None, "savedmodel", "tflite_float32"):
        where = exported / "m.keras" if use is None else exported / "export"
        said = []
        rows, skipped, _ = predict(where, copies, use=use, progress=False, say=said.append)
        plain, _, classes = predict(where, originals, use=use, progress=False)
        assert not skipped and [r["class"] for r in rows] == [r["class"] for r in plain]
        np.testing.assert_allclose([[r[c] for c in classes] for r in rows],
                                   [[r[c] for c in classes] for r in plain], atol=5e-3)
        assert said == [f"resampled 4 file(s) to 8000 Hz (group 'audio'): "
                        + ", ".join(f"{c.name} (44100 Hz)" for c in copies)]
    assert main(["predict", str(exported / "m.keras"), *map(str, copies)]) == 0
    err = capsys.readouterr().err
    assert err.count("minape predict: resampled 4 file(s) to 8000 Hz") == 1


def test_one_call_mixes_rates_bit_depths_and_channel_layouts(exported, tmp_path, fsdd_files):
    """An 8 kHz original, a 44.1 kHz / 24-bit copy and a stereo copy in one call: each is
    brought to the group (resampled, mixed down) and said; none is refused."""
    from math import gcd

    from scipy.signal import resample_poly

    originals = fsdd_files[:3]
    data, rate = sf.read(originals[1], dtype="float64")
    fast = tmp_path / "fast.wav"
    g = gcd(44100, rate)
    sf.write(fast, resample_poly(data, 44100 // g, rate // g), 44100, subtype="PCM_24")
    data, rate = sf.read(originals[2], dtype="float32")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([data, data], axis=1), rate, subtype="PCM_16")
    mixed = [originals[0], str(fast), str(stereo)]
    for use in (None, "savedmodel", "tflite_float32"):
        where = exported / "m.keras" if use is None else exported / "export"
        said = []
        rows, skipped, classes = predict(where, mixed, use=use, progress=False,
                                         say=said.append)
        plain, _, _ = predict(where, originals, use=use, progress=False)
        assert not skipped and [r["class"] for r in rows] == [r["class"] for r in plain]
        got = np.array([[r[c] for c in classes] for r in rows])
        want = np.array([[r[c] for c in classes] for r in plain])
        np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], atol=1e-6)   # exact copies
        np.testing.assert_allclose(got[1], want[1], atol=5e-3)             # resampled twice
        assert said == ["resampled or mixed down 2 file(s) to 8000 Hz (group 'audio'): "
                        "fast.wav (44100 Hz), stereo.wav (8000 Hz, 2 channels mixed down)"]


def test_predict_arrays_gives_the_probabilities_of_minape_predict(exported, fsdd_files):
    """A Keras user predicts from arrays in one call (any length, any rate said by
    ``rates``) and gets what ``minape predict`` gives for the same files."""
    from scipy.signal import resample_poly

    from minape_tf import load_model, predict_arrays

    model = load_model(exported / "m.keras")
    rows, _, classes = predict(exported / "m.keras", fsdd_files, progress=False)
    expected = np.array([[r[c] for c in classes] for r in rows])
    arrays = [sf.read(f, dtype="float32")[0] for f in fsdd_files]
    np.testing.assert_allclose(predict_arrays(model, arrays), expected, atol=1e-6)
    one = predict_arrays(exported / "m.keras", arrays[0][:, None], rates=8000)
    np.testing.assert_allclose(one, expected[:1], atol=1e-6)
    doubled = resample_poly(arrays[0], 2, 1).astype("float32")      # the same sound at 16 kHz
    np.testing.assert_allclose(predict_arrays(model, doubled, rates={"audio": 16000}),
                               expected[:1], atol=5e-3)
    with pytest.raises(ValueError, match=r"keyed \['sound'\]; the model reads the groups "
                                         r"\['audio'\]"):
        predict_arrays(model, {"sound": arrays[0]})
    with pytest.raises(DataError, match="array 0"):
        predict_arrays(model, np.full((4000,), np.nan, np.float32))


def test_litert_says_nothing_on_stderr_while_predicting(exported, fsdd_files):
    """``minape predict --use tflite_float32`` writes rows, and no runtime INFO line."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "minape_tf", "predict",
                           str(exported / "export"), "--use", "tflite_float32",
                           fsdd_files[0]], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items()
                               if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("id,class,zero,one,two")
    assert "INFO" not in done.stderr and "XNNPACK" not in done.stderr, done.stderr
