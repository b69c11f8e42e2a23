"""``predict``: classify observations read from files with a run folder, a ``.keras``
file or an export folder.

Observations come from files (a model with one group of one input: each file, or each
supported file in a given folder, is one observation) or from a manifest CSV with a
column per group (or ``group.part`` columns, or the group's input names, in channel order)
and optional ``id``, ``group`` (the device) and ``order`` columns; paths are relative to the
CSV's folder. A model of device histories (``sequence_length`` > 1) needs ``group`` and
``order``: each observation is predicted from its device's last observations
(:mod:`minape_tf.deploy.histories`), and its row says its ``device`` and ``history`` (the
observations its window holds; fewer than ``sequence_length``: padded). Files are read by
the training readers and checked by the same validation pass: an unreadable or unfit file
is reported by name and left out (``strict=True``: it stops the run instead).

The model is, by what ``path`` is: a run folder or ``.keras`` file (Keras, on features
from the training pipeline); an export folder (``export.json``): its SavedModel, fed the
raw files (encoded image bytes, series at their native rate), or one of its TFLite
models or its ONNX model, fed the pipeline's features.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import warnings

import numpy as np
from tqdm import tqdm

from minape_tf.data import decode
from minape_tf.data.loaders.manifest import order_column
from minape_tf.data.rates import at_group_rates
from minape_tf.data.rates import describe as describe_resampled
from minape_tf.data.source import Source
from minape_tf.data.validate import DataError, validate
from minape_tf.deploy.histories import history_gaps, split_model, windows_of
from minape_tf.deploy.serving import input_names
from minape_tf.groups import group_from_config
from minape_tf.models.inputs import ModelInputs, model_dataset
from minape_tf.models.saving import load_minape
from minape_tf.outputs.atomic import write_text
from minape_tf.outputs.export_folder import (DESCRIPTION, PREFERRED, ExportFolder, head_key,
                                             model_keys)
from minape_tf.outputs.run_folder import FILES

_EXTENSIONS = {"image": decode.IMAGE_EXTENSIONS, "series": decode.SERIES_EXTENSIONS}


def files_source(groups, files) -> Source:
    """Observations of a one-group, one-input model from ``files`` (folders expanded to
    their files of the group's kind, sorted)."""
    if len(groups) != 1:
        raise ValueError(f"the model reads {len(groups)} groups "
                         f"({', '.join(g.name for g in groups)}): give the files of each "
                         "observation in a manifest=CSV, one column per group")
    paths = []
    for item in files:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item)
                           if decode.extension(f) in _EXTENSIONS[groups[0].kind])
            if not found:
                raise DataError(f"{item}: no {groups[0].kind} files "
                                f"({', '.join(_EXTENSIONS[groups[0].kind])}) in the folder")
            paths += found
        else:
            paths.append(item)
    if not paths:
        raise ValueError("no files to predict: give files or manifest=CSV")
    return _source({groups[0].name: [(p,) for p in paths]}, paths)


def manifest_source(groups, csv_path, histories=False) -> Source:
    """Observations listed in a manifest CSV (see the module docstring). For a model of
    device histories (``histories``), a blank ``group`` or ``order`` cell is refused naming
    its lines: the row's device or place in it would be a guess."""
    csv_path = os.fspath(csv_path)
    root = os.path.dirname(os.path.abspath(csv_path))
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(f"{csv_path}: no rows")
    header = list(rows[0])
    inputs = {}
    for g in groups:
        columns = ([g.name] if g.name in header else
                   [c for c in header if c.startswith(f"{g.name}.")] or
                   [c for c in g.inputs if c in header])
        if not columns:
            raise DataError(f"{csv_path}: no column for group {g.name!r}; expected a column "
                            f"{g.name!r}, columns '{g.name}.<part>' or the inputs "
                            f"{list(g.inputs)} (found {header})")
        inputs[g.name] = [tuple(os.path.join(root, r[c]) for c in columns) for r in rows]
    ids = [r.get("id") or f"{csv_path}:{k + 2}" for k, r in enumerate(rows)]
    if histories:
        _refuse_blank_cells(csv_path, rows, header)
    devices = [r.get("group") or "" for r in rows] if "group" in header else None
    order = (order_column(csv_path, [(k + 2, r) for k, r in enumerate(rows)])
             if "order" in header else None)
    return _source(inputs, ids, devices, order)


def _refuse_blank_cells(csv_path, rows, header):
    """A :class:`DataError` naming the lines whose ``group`` or ``order`` cell is blank."""
    for column in ("group", "order"):
        if column not in header:
            continue
        blank = [k + 2 for k, r in enumerate(rows) if not (r.get(column) or "").strip()]
        if blank:
            lines = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
            raise DataError(f"{csv_path}: blank {column!r} cell on line(s) {lines}: a model of "
                            f"device histories needs each row's {column} (two devices "
                            "with blank cells would be taken for one)")


def _source(inputs, ids, devices=None, order=None):
    n = len(ids)
    return Source(inputs=inputs, labels=np.zeros(n, np.int64), classes=["?"], ids=list(ids),
                  split_keys=devices, order=order)


def check_histories(sequence_length, source=None):
    """Refuse to predict with a model of device histories where ``source`` (``None``: loose
    files) does not say each observation's device and order."""
    if (sequence_length or 1) < 2:
        return
    if source is None or source.split_keys is None or source.order is None:
        raise DataError(f"the model reads device histories (sequence_length={sequence_length}): "
                        "give the observations in a manifest=CSV with a 'group' column "
                        "(the device) and an 'order' column (larger is later), so that each "
                        "is predicted from its device's last observations")


def list_observations(groups, files=(), manifest=None, say=None, histories=False) -> Source:
    """The observations of ``files`` or ``manifest`` (exactly one of them), not yet
    validated; WAV files at another rate than their group's are resampled to it
    (:mod:`minape_tf.data.rates`) and said once, by ``say(line)`` (default: a warning).
    ``histories``: for a model of device histories (see :func:`manifest_source`)."""
    if bool(files) == bool(manifest):
        raise ValueError("give either files or manifest=CSV")
    source = (manifest_source(groups, manifest, histories) if manifest
              else files_source(groups, files))
    source, resampled = at_group_rates(source, groups)
    if resampled:
        (say or _warn)(describe_resampled(resampled))
    return source


def read_observations(groups, files=(), manifest=None, strict=False, say=None) -> Source:
    """:func:`list_observations`, validated: unreadable or unfit ones are left out and
    listed in ``skipped`` (``strict``: raise)."""
    return validate(list_observations(groups, files, manifest, say), groups,
                    skip_bad=not strict)


def _warn(line):
    warnings.warn(line, stacklevel=3)


class KerasPredictor:
    """A Keras :class:`~minape_tf.models.minape.Minape` fed the training pipeline's features; a
    model of device histories (``sequence_length`` > 1) as its encoder and head
    (:mod:`minape_tf.deploy.histories`): :meth:`run` gives vectors, :meth:`head` the
    probabilities of windows of them."""

    def __init__(self, model):
        self.groups, self.classes = list(model.groups), model.class_names
        self.inputs = ModelInputs.of_model(model).one_at_a_time()
        self.sequence_length = model.arguments.get("sequence_length", 1)
        self.model, self.head_model = model, None
        if self.sequence_length > 1:
            self.model, self.head_model = split_model(model)

    def data(self, source, batch_size):
        """Unaugmented batches of ``source`` in order, as the model (one observation at a
        time) reads them."""
        return model_dataset(source, self.inputs, batch_size=batch_size)

    def batches(self, source, batch_size):
        start = 0
        for x, _ in self.data(source, batch_size):
            probabilities = self.run(x)
            yield np.arange(start, start + len(probabilities)), probabilities
            start += len(probabilities)

    def run(self, x):
        return np.asarray(self.model(x, training=False))

    def head(self, steps):
        return np.asarray(self.head_model({"steps": steps}, training=False))


class _Runtime(KerasPredictor):
    """An exported model file (and a history model's head file) fed the pipeline's
    features, by a runtime's ``open(path)`` and ``run(handle, {name: array})``."""

    def __init__(self, path, groups, classes, sequence_length, head, runtime):
        self.sequence_length = sequence_length
        self.open, self.call = runtime()
        self.handle = self.open(path)
        self.head_handle = self.open(head) if head else None
        self.groups, self.classes = groups, classes
        self.inputs = ModelInputs(tuple(groups))

    def run(self, x):
        return self.call(self.handle, {k: v.numpy() for k, v in x.items()})

    def head(self, steps):
        return self.call(self.head_handle, {"steps": steps})


def _litert():
    from minape_tf.deploy.tflite import interpreter, run_model

    return interpreter, run_model


def _onnxruntime():
    from minape_tf.deploy.onnx import run_model, session

    return session, run_model


# format -> a function returning (open a file, run it on {input name: array}).
RUNTIMES = {"tflite": _litert, "onnx": _onnxruntime}


class _SavedModel:
    """Feeds the raw files to the ``serving_default`` signature, batching observations
    whose series have the same number of samples."""

    def __init__(self, path, groups, classes, sequence_length=1):
        import tensorflow as tf

        signatures = tf.saved_model.load(path).signatures
        histories = sequence_length > 1
        missing = [k for k in ("serving_default", *(("head",) if histories else ()))
                   if k not in signatures]
        if missing:
            raise ValueError(f"no {missing} signature, which its export.json says it has")
        self.signature = signatures["serving_default"]
        self.head_signature = signatures["head"] if histories else None
        self.output = "vectors" if histories else "probabilities"
        self.groups, self.classes, self.sequence_length = groups, classes, sequence_length

    def head(self, steps):
        return self.head_signature(steps=steps)["probabilities"].numpy()

    def _request(self, source, i):
        request = {}
        for g in self.groups:
            items, names = source.inputs[g.name][i], input_names(g)
            if g.kind == "image":
                if len(items) != len(names):
                    raise DataError(f"{source.ids[i]}: group {g.name!r} has {len(items)} image "
                                    f"files, the SavedModel takes {len(names)} ({names})")
                for name, item in zip(names, items):
                    with open(item, "rb") as f:
                        request[name] = f.read()
                continue
            parts = [decode.read_series(item, g.inputs)[0] if not isinstance(item, np.ndarray)
                     else decode.series_array(item) for item in items]
            if len(parts) == 1 and len(names) > 1:  # one file holding every input's columns
                parts = np.split(parts[0], len(names), axis=1)
            for name, part in zip(names, parts):
                request[name] = part
        return request

    def batches(self, source, batch_size):
        requests = [self._request(source, i) for i in range(len(source))]
        shapes = [tuple(np.shape(v) for v in r.values()) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (str(shapes[i]), i))
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < batch_size and \
                    shapes[order[end]] == shapes[order[start]]:
                end += 1
            chunk = order[start:end]
            batch = {k: np.stack([requests[i][k] for i in chunk]) if
                     not isinstance(requests[chunk[0]][k], bytes) else
                     np.array([requests[i][k] for i in chunk], dtype=object)
                     for k in requests[chunk[0]]}
            yield np.array(chunk), self.signature(**batch)[self.output].numpy()
            start = end


def load_predictor(path, use=None):
    """The model at ``path`` (run folder, ``.keras`` file or export folder) as a predictor;
    ``use`` picks an export folder's file: ``savedmodel`` (default when written), ``onnx``
    or ``tflite_float32`` / ``tflite_float16`` / ``tflite_int8``."""
    path = os.fspath(path)
    folder = ExportFolder(path)
    if not folder.described():
        if use:
            raise ValueError(f"use={use!r} needs an export folder; {path} has no "
                             f"{DESCRIPTION}")
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, FILES["model"])):
            raise FileNotFoundError(
                f"{path}: neither an export folder ({DESCRIPTION}) nor a run folder "
                f"({FILES['model']})" + (f"; it holds exported files but no {DESCRIPTION}, "
                                         "which an export writes last: run `minape export` "
                                         "again" if folder.unfinished() else ""))
        return KerasPredictor(load_minape(path)[0])
    return _exported(folder, use)


def _exported(folder, use):
    """The predictor of export folder ``folder``'s file ``use``."""

    info = folder.read()
    models = model_keys(info["files"])
    use = use or next((k for k in PREFERRED if k in info["files"]),
                      models[0] if models else None)
    if use not in models:
        raise ValueError(f"use={use!r}: the export folder {folder.path} holds {models}")
    groups = [group_from_config(g) for g in info["groups"]]
    target = folder.path_of(info, use)
    length = info.get("sequence_length", 1)
    try:
        if use == "savedmodel":                   # a history model's head is a signature
            return _SavedModel(target, groups, info["classes"], length)
        head = folder.path_of(info, head_key(use)) if length > 1 else None
        runtime = RUNTIMES[info["files"][use].get("format", "onnx" if use == "onnx" else
                                                   "tflite")]
        return _Runtime(target, groups, info["classes"], length, head, runtime)
    except (ValueError, OSError) as exc:
        raise DataError(f"{target}: a corrupt or truncated {use} file ({exc}); run "
                        "`minape export` again") from exc


def predict(path, files=(), *, manifest=None, batch_size=32, strict=False, use=None,
            progress=True, say=None) -> tuple:
    """Classify observations; returns ``(rows, skipped, classes)``.

    ``rows``: one dict per readable observation, in input order: ``id``, ``class`` and one
    probability per class name. ``skipped``: ``(file or id, reason)`` of the observations
    left out (with ``strict=True`` the first problems raise :class:`DataError` instead).
    WAV files at another sampling rate or bit depth than the model's are resampled to its
    rate and named once, by ``say(line)`` (default: a warning).
    """
    if bool(files) == bool(manifest):
        raise ValueError("give either files or manifest=CSV")
    predictor = load_predictor(path, use)
    classes, length = predictor.classes, predictor.sequence_length
    if not manifest:                 # loose files: refused before any is read
        check_histories(length)
    listed = list_observations(predictor.groups, files, manifest, say, length > 1)
    source = validate(listed, predictor.groups, skip_bad=not strict)
    check_histories(length, source)
    if not len(source):
        return [], source.skipped, classes
    batches = predictor.batches(source, batch_size)
    if progress:
        batches = tqdm(batches, total=-(-len(source) // batch_size), desc="predict",
                       unit="batch", file=sys.stderr, leave=False)
    outputs = None
    for index, values in batches:
        if outputs is None:
            outputs = np.zeros((len(source), values.shape[-1]), np.float32)
        outputs[index] = values
    if length == 1:
        return _rows(source.ids, outputs, classes), source.skipped, classes

    steps, observed = windows_of(outputs, source, length)
    probabilities = np.concatenate([predictor.head(steps[i:i + batch_size])
                                    for i in range(0, len(steps), batch_size)])
    rows = _rows(source.ids, probabilities, classes)
    gaps = history_gaps(listed, source, length)
    for row, device, count, gap in zip(rows, source.split_keys, observed, gaps):
        row.update(device=str(device), history=int(count), history_gaps=int(gap))
    return rows, source.skipped, classes


def _rows(ids, probabilities, classes) -> list:
    return [{"id": ident, "class": classes[int(np.argmax(p))],
             **{c: float(v) for c, v in zip(classes, p)}}
            for ident, p in zip(ids, probabilities)]


def write_rows(rows, classes, out=None, as_json=False):
    """CSV (``id, class, <class>...``) or a JSON list to ``out`` (a path; ``None``: stdout)."""
    stream = io.StringIO(newline="") if out else sys.stdout
    if as_json:
        json.dump(rows, stream, indent=2)
        stream.write("\n")
    else:
        extra = [k for k in ("device", "history", "history_gaps") if rows and k in rows[0]]
        writer = csv.DictWriter(stream, fieldnames=["id", "class", *classes, *extra])
        writer.writeheader()
        writer.writerows(rows)
    if out:
        write_text(out, stream.getvalue())
