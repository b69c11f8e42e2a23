"""How many of the Keras model's classes each exported model file keeps, measured at export
on the run's own held-out observations (its test split, else its validation split) and
written into the file's ``export.json`` entry (``agreement``). A quantized variant below
:data:`THRESHOLD` is named when the export is printed, so that nothing that loses
predictions ships unremarked."""

from __future__ import annotations

import os

import numpy as np

from minape_tf.deploy.predictor import RUNTIMES

# The share of Keras's classes a file must keep to be deployed without a second look.
THRESHOLD = 0.98


def measurable(entry) -> bool:
    """Whether an export.json entry is a model file fed the pipeline's features."""
    return (entry["role"] == "model" and entry.get("features") == "outside"
            and entry["format"] in RUNTIMES)


def measure(files, folder, model, batches, where):
    """Add ``agreement`` (``share``, ``observations``, ``data``) to every measurable entry
    of ``files``: the share of ``batches`` (``{group name: features}``) on which the file's
    most probable class is the Keras ``model``'s."""
    expected = np.concatenate([np.argmax(np.asarray(model(x, training=False)), -1)
                               for x in batches])
    for entry in files.values():
        if not measurable(entry):
            continue
        open_file, run = RUNTIMES[entry["format"]]()
        handle = open_file(os.path.join(folder.path, entry["path"]))
        got = np.concatenate([np.argmax(run(handle, x), -1) for x in batches])
        entry["agreement"] = {"share": round(float(np.mean(got == expected)), 4),
                              "observations": int(len(expected)),
                              "data": f"{where} split of the run"}


def describe(key, entry) -> str:
    """``"agreement with Keras 98.4% (500 test ...)"``, and a warning below the threshold;
    ``""`` for an entry without a measurement."""
    measured = entry.get("agreement")
    if not measured:
        return ""
    line = (f"agreement with Keras {100 * measured['share']:.1f}% of "
            f"{measured['observations']} ({measured['data']})")
    if measured["share"] < THRESHOLD:
        line += (f"; below {100 * THRESHOLD:.0f}%: {key} changes predictions, deploy "
                 "float32, float16 or dynamic instead")
    return line
