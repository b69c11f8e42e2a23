"""Device histories at prediction time: a model of sequence_length L > 1 predicted from a
manifest's devices and order, in Keras and from every export format, and one observation at
a time."""

import csv
import json

import keras
import numpy as np
import pytest
from PIL import Image

from minape_tf.cli.main import main
from minape_tf.data import DataError
from minape_tf.data.loaders.demo import demo
from minape_tf.deploy import export, predict
from minape_tf.models.saving import load_minape
from minape_tf.deploy.histories import DeviceHistories, split_model

L = 4
MODEL = ["--sequence-length", str(L), "--learner", "tempmixer", "--width", "8", "--depth", "1",
         "--patch-size", "8", "--kernel-size", "3", "--verbose", "0"]


def _write_demo_files(root, n_tools=4, runs_per_tool=5):
    """The demo's observations as files (tool photo PNG, forces .npy) and a manifest with
    the device (``group``) and ``order`` columns; tool 1 is the test split, tool 2 the
    validation split. Returns the test rows, shuffled (the order column, not the row order,
    says what came first)."""
    source = demo(seed=0, n_tools=n_tools, runs_per_tool=runs_per_tool).source
    rows = []
    for i, ident in enumerate(source.ids):
        photo = (np.clip(source.inputs["tool"][i][0], 0, 1) * 255).round().astype(np.uint8)
        Image.fromarray(photo).save(root / f"{ident}.png")
        np.save(root / f"{ident}.npy", np.stack(source.inputs["force"][i], axis=1))
        tool = source.split_keys[i]
        rows.append({"id": ident, "label": source.classes[source.labels[i]], "group": tool,
                     "order": int(source.order[i]), "tool": f"{ident}.png",
                     "force": f"{ident}.npy",
                     "split": {"T1": "test", "T2": "val"}.get(tool, "train")})
    _write(root / "all.csv", rows)
    test = [r for r in rows if r["split"] == "test"]
    np.random.default_rng(0).shuffle(test)
    return test


def _write(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _probabilities(rows, classes):
    return np.array([[r[c] for c in classes] for r in rows])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("histories")
    test = _write_demo_files(root)
    _write(root / "test.csv", test)
    out = root / "run"
    assert main(["train", "--dataset", "manifest", "--data-dir", str(root / "all.csv"),
                 "-D", "sample_rate=2000", *MODEL, "--epochs", "1", "--steps", "8",
                 "--batch-size", "4", "--no-evaluate", "--out", str(out)]) == 0
    return root, out, test


def test_predict_from_a_manifest_equals_evaluate_in_keras_and_every_export(run, capsys):
    root, out, test = run
    assert main(["evaluate", str(out), "--split", "test", "--no-latency"]) == 0
    evaluated = np.load(out / "predictions.npz")["probabilities"]      # the test split
    ids = sorted(r["id"] for r in test)            # evaluate's order: the source's
    export(out, root / "export", quantizations=("float32",), verbose=False)
    described = json.loads((root / "export" / "export.json").read_text())
    assert described["sequence_length"] == L and described["histories"]["steps"] == L
    for where, use, tolerance in ((out, None, 1e-5), (root / "export", "savedmodel", 1e-5),
                                  (root / "export", "onnx", 1e-5),
                                  (root / "export", "tflite_float32", 1e-4)):
        rows, skipped, classes = predict(where, manifest=root / "test.csv", use=use,
                                         progress=False)
        assert not skipped and [r["id"] for r in rows] == [r["id"] for r in test]
        by_id = dict(zip([r["id"] for r in rows], _probabilities(rows, classes)))
        got = np.array([by_id[i] for i in ids])
        assert np.max(np.abs(got - evaluated)) <= tolerance, use
        # the first L - 1 runs of the tool have short histories, padded and said so
        orders = {r["id"]: r["order"] for r in test}
        assert all(r["history"] == min(orders[r["id"]] + 1, L) and r["device"] == "T1"
                   for r in rows)
    capsys.readouterr()
    assert main(["predict", str(root / "export"), "--manifest", str(root / "test.csv")]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[-3:] == ["device", "history", "history_gaps"]


def test_one_observation_at_a_time_equals_the_full_window(run):
    root, out, test = run
    model, _ = load_minape(out)
    encoder, head = split_model(model)
    source = demo(seed=0, n_tools=4, runs_per_tool=5).source
    from minape_tf.data.pipeline import make_dataset

    tool = np.flatnonzero(source.split_keys == "T3")
    tool = tool[np.argsort(source.order[tool])]
    one = source.subset(tool)
    windows, _ = next(iter(make_dataset(one, list(model.groups), training=False,
                                        batch_size=len(one), sequence_length=L)))
    full = np.asarray(model(windows, training=False))
    singles, _ = next(iter(make_dataset(one, list(model.groups), training=False,
                                        batch_size=len(one))))
    vectors = np.asarray(encoder(singles, training=False))
    histories = DeviceHistories(L)
    for k in range(len(one)):
        steps, observed = histories.window("T3", vectors[k])
        assert observed == min(k + 1, L)
        streamed = np.asarray(head({"steps": steps[None]}, training=False))[0]
        np.testing.assert_allclose(streamed, full[k], atol=1e-6)
    histories.forget("T3")
    assert histories.window("T3", vectors[0])[1] == 1


def test_a_history_model_without_devices_or_order_is_refused_naming_the_columns(run, capsys):
    root, out, test = run
    _write(root / "no_order.csv", [{k: v for k, v in r.items() if k != "order"} for r in test])
    for where in (out, root / "export"):
        if not (where / "export.json").exists() and where != out:
            export(out, where, formats="tflite", quantizations=("float32",), verbose=False)
        with pytest.raises(ValueError, match=r"sequence_length=4.*'group' column.*'order'"):
            predict(where, manifest=root / "no_order.csv", progress=False)
        with pytest.raises(ValueError, match=r"sequence_length=4.*'group' column.*'order'"):
            predict(where, [root / f"{test[0]['id']}.png"], progress=False)
    with pytest.raises(ValueError, match="adapt takes models of single observations"):
        from minape_tf.deploy.adapted import adapt

        adapt(out, manifest=root / "test.csv", out=root / "adapted.keras")


def test_blank_devices_are_refused_and_a_gap_in_a_history_is_said(run):
    """Two devices with blank ``group`` cells would be merged into one: refused naming the
    lines. An unreadable observation is skipped, and the rows whose window passes over it
    say so (``history_gaps``)."""
    root, out, test = run
    blank = [dict(r, group="" if k in (1, 3) else r["group"]) for k, r in enumerate(test)]
    _write(root / "blank.csv", blank)
    with pytest.raises(DataError, match=r"blank.csv: blank 'group' cell on line\(s\) 3, 5"):
        predict(out, manifest=root / "blank.csv", progress=False)
    (root / "broken.png").write_bytes(b"not a png")
    broken = sorted(test, key=lambda r: r["order"])
    broken[2] = dict(broken[2], tool="broken.png")          # order 2 cannot be read
    _write(root / "gap.csv", broken)
    rows, skipped, _ = predict(out, manifest=root / "gap.csv", progress=False)
    assert len(skipped) == 1 and "broken.png" in skipped[0][0] + skipped[0][1]
    by_order = {r["order"]: row for r, row in zip([b for k, b in enumerate(broken) if k != 2],
                                                 rows)}
    assert [by_order[k]["history_gaps"] for k in (0, 1, 3, 4)] == [0, 0, 1, 1]
    assert [by_order[k]["history"] for k in (0, 1, 3, 4)] == [1, 2, 3, 4]


def test_split_model_refuses_a_model_of_single_observations():
    from minape_tf.models.minape import build_minape

    loaded = demo(seed=0, n_tools=3, runs_per_tool=2)
    keras.utils.set_random_seed(0)
    model = build_minape(list(loaded.groups), 3, width=8, depth=1, patch_size=8,
                         kernel_size=3)
    with pytest.raises(ValueError, match="single observations"):
        split_model(model)
