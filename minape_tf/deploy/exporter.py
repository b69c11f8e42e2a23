"""``export``: a run folder (or ``.keras`` file) to SavedModel and TFLite files plus
``export.json``, which describes them for ``minape predict`` and for people.

``DIR/export.json`` holds the classes, the groups (their preprocessing settings: image size,
series rates, length, log-Mel parameters), the request inputs, and per written file its
path (relative to ``DIR``), size in bytes and, for TFLite, the operators it uses; the
folder's layout is :mod:`minape_tf.outputs.export_folder`'s. ONNX files
(:mod:`minape_tf.deploy.onnx`) are the model and each series group's feature stage, as for
TFLite. A model of device histories (``sequence_length`` > 1) is written as its encoder and
its head (:mod:`minape_tf.deploy.histories`), and ``histories`` says how to feed them.

An export holds the folder's lock (:mod:`minape_tf.outputs.lock`) and writes every file
atomically, ``export.json`` last (an old one is removed first): a killed export leaves a
folder without ``export.json``, which ``minape predict`` refuses, and no file that looks
complete but is not.
"""

from __future__ import annotations

import os
import warnings

from minape_tf.data.errors import DataError
from minape_tf.deploy import agreement, contract, tflite
from minape_tf.deploy.calibration import RunData
from minape_tf.deploy.histories import split_model
from minape_tf.deploy.savedmodel import export_savedmodel
from minape_tf.deploy.serving import SIGNATURES, expected_shape, input_names
from minape_tf.deploy.tflite import QUANTIZATIONS, op_names
from minape_tf.layers.depthwise import check_form
from minape_tf.models.saving import load_minape
from minape_tf.outputs.atomic import disk_full_as_error
from minape_tf.outputs.export_folder import ExportFolder
from minape_tf.outputs.lock import locked

FORMATS = ("savedmodel", "tflite", "onnx", "all")

# Why the depthwise convolutions of the TFLite and ONNX files have the form they have, as
# export.json says it (the measurements: minape_tf.layers.depthwise_forms,
# docs/performance.md). XNNPACK's rule is the same on every instruction set, so the export
# has no per-ISA choice to make.
DEPTHWISE_REASONS = {
    "tiles": "each kernel cut into pieces of at most 25 taps, the largest that XNNPACK's "
             "one-pass depthwise kernels take on AVX-512, AVX2 and ARM NEON alike; a larger "
             "kernel falls back to a grouped matrix product several times slower",
    "conv": "one depthwise convolution per block, as asked (--depthwise conv); kernels of "
            "more than 25 taps run several times slower in LiteRT than the tiles form",
    "fft": "FFT correlation, as asked (--depthwise fft)",
    "matmul": "per-channel Toeplitz matrix products, as asked (--depthwise matmul)",
    "auto": "the model's own form, as asked (--depthwise auto)",
}


def _inputs(groups) -> dict:
    out = {}
    for g in groups:
        for name in input_names(g):
            out[name] = {"group": g.name, "kind": g.kind,
                         "shape": expected_shape(g, encoded_images=False),
                         "dtype": "uint8 or encoded bytes" if g.kind == "image" else "float32"}
    return out


def export(path, out_dir, *, formats="all", quantizations=("float32", "float16", "dynamic"),
           name=None, features_in_model=False, select_ops=False, calibration=300,
           depthwise="tiles", verbose=True) -> dict:
    """Export a trained model; returns what ``export.json`` holds.

    Parameters
    ----------
    path : path
        A run folder of ``minape train`` or a ``.keras`` file of :func:`build_minape`.
    out_dir : path
        The export folder; ``export.json`` and the files go there.
    formats : {"savedmodel", "tflite", "onnx", "all"}, default "all"
        ``onnx`` needs ``tf2onnx`` and ``onnxruntime`` (``pip install "minape-tf[onnx]"``).
    quantizations : sequence of {"float32", "float16", "dynamic", "int8", "int8_mixed", \
"int16x8"}, default ("float32", "float16", "dynamic")
        TFLite variants (see :mod:`minape_tf.deploy.tflite`). int8, int8_mixed and int16x8
        are calibrated on ``calibration`` training observations of the run and so need a run
        folder. The default holds the variants that keep the float model's predictions;
        exported from a run folder, every TFLite and ONNX model file's agreement with Keras
        on the run's held-out observations is measured and written to ``export.json``
        (:mod:`minape_tf.deploy.agreement`), and a file below 98% is named.
    name : str or None, default None
        Model name (SavedModel folder, file prefix); default the run folder's name.
    features_in_model : bool, default False
        Also write ``<name>_raw_float32.tflite``, the model with the series features inside
        (raw series at the group's rate and length in).
    select_ops : bool, default False
        Let the TFLite converter use TF Select ops where built-in ones do not suffice.
    calibration : int, default 300
        Training observations that calibrate the int8 variants.
    depthwise : {"tiles", "conv", "fft", "matmul", "auto"}, default "tiles"
        The form of the depthwise convolutions in the TFLite and ONNX files
        (:class:`~minape_tf.layers.DepthwiseConv`; the same weights and outputs): ``tiles``
        is the one LiteRT's XNNPACK runs fastest, on every instruction set
        (:data:`DEPTHWISE_REASONS`); ``auto`` keeps the model's own. Written to
        ``export.json``, with ``depthwise_reason``.
    verbose : bool, default True
        Print each file's size, TFLite operators and agreement with Keras.
    """
    if formats not in FORMATS:
        raise ValueError(f"formats={formats!r}; expected one of {FORMATS}")
    unknown = [q for q in quantizations if q not in QUANTIZATIONS]
    if unknown:
        raise ValueError(f"quantizations={','.join(unknown)}: expected some of {QUANTIZATIONS}")
    check_form(depthwise)
    model, run_dir = load_minape(path)
    if model.arguments.get("features_in_model"):   # the exported files take the features
        model = model.with_arguments(features_in_model=False)
    name = name or _default_name(path)
    folder = ExportFolder(out_dir)
    folder.claim()                  # before any work: a folder of another kind is refused
    with locked(folder.path), disk_full_as_error(folder.path):
        described = _export(model, run_dir, path, folder, name, formats, quantizations,
                            features_in_model, select_ops, calibration, depthwise)
    if verbose:
        _print(described, folder.path)
    return described


def _export(model, run_dir, path, folder, name, formats, quantizations, features_in_model,
            select_ops, calibration, depthwise) -> dict:
    folder.forget()                      # it would describe files about to be replaced
    length = model.arguments.get("sequence_length", 1)
    if length > 1 and features_in_model:
        raise ValueError("features_in_model=True is written for models of single "
                         "observations; this one reads device histories "
                         f"(sequence_length={length}), exported as an encoder and a head")
    data = RunData(run_dir) if run_dir is not None else None     # read on first use, once
    described = {"name": name, "source": os.path.basename(os.path.normpath(os.fspath(path))),
                 "classes": model.class_names,
                 "groups": [g.to_config() for g in model.groups],
                 "sequence_length": length, "inputs": _inputs(model.groups), "files": {}}
    if length > 1:
        described["histories"] = _histories(model, length)
    files = described["files"]
    if formats in ("savedmodel", "all"):
        saved = export_savedmodel(model, folder.savedmodel_path(name))
        files["savedmodel"] = {**folder.entry("savedmodel", os.path.relpath(saved, folder.path)),
                               "signatures": list(SIGNATURES) + (["head"] if length > 1
                                                                 else []),
                               "features": "inside"}
    if formats != "savedmodel":
        described["depthwise"] = depthwise
        described["depthwise_reason"] = DEPTHWISE_REASONS[depthwise]
        if depthwise != "auto" and model.arguments.get("depthwise", "auto") != depthwise:
            model = model.with_arguments(depthwise=depthwise)
    if formats in ("tflite", "all"):
        files.update(_export_tflite(model, data, folder, name, quantizations, select_ops,
                                    calibration, features_in_model))
    if formats in ("onnx", "all"):
        files.update(_export_onnx(model, folder, name))
    _pair(files, model.groups)
    if data is not None and length == 1:
        _measure_agreement(files, folder, model, data)
    described["preprocessing"] = contract.preprocessing(model.groups, files)
    described["glossary"] = contract.glossary()
    return folder.describe(described)


def _measure_agreement(files, folder, model, data):
    """Each model file's agreement with Keras on the run's held-out observations; a warning
    instead when the run's data cannot be read here (an export needs no data otherwise)."""
    try:
        batches, where = data.held_out(model)
    except (DataError, OSError, ValueError) as error:
        warnings.warn(f"agreement with Keras not measured: the run's data cannot be read "
                      f"({error})", stacklevel=2)
        return
    if batches:
        agreement.measure(files, folder, model, batches, where)


def _pair(files, groups):
    """Give each model file that takes features the features file of each series group in
    its own format (``pairs_with``)."""
    series = [g.name for g in groups if g.kind == "series"]
    for entry in files.values():
        if entry["role"] == "model" and entry.get("features") == "outside":
            entry["pairs_with"] = {g: key for key, f in files.items() for g in series
                                   if f["role"] == "features" and f.get("group") == g
                                   and f["format"] == entry["format"]}


def _export_tflite(model, data, folder, name, quantizations, select_ops, calibration,
                   features_in_model) -> dict:
    representative = None
    calibrated = [q for q in quantizations if q in tflite.CALIBRATED]
    if calibrated:
        if data is None:
            raise ValueError(f"{' / '.join(calibrated)} export needs the run's training "
                             "data for calibration: export a run folder, or leave them "
                             "out of quantizations (dynamic needs none)")
        representative = data.representative_set(model, calibration)
    written = [_lite(folder, "tflite", tflite.convert_model(model, q, representative,
                                                            select_ops),
                     name, variant=q, features="outside") for q in quantizations]
    if model.arguments.get("sequence_length", 1) > 1:
        written.append(_lite(folder, "tflite_head", tflite.convert_head(model), name))
    written += [_lite(folder, "tflite_features", tflite.convert_features(g, select_ops), name,
                      group=g.name) for g in model.groups if g.kind == "series"]
    if features_in_model:
        written.append(_lite(folder, "tflite_raw", tflite.convert_with_features(
            model, select_ops), name, features="inside"))
    return dict(written)


def _export_onnx(model, folder, name) -> dict:
    try:
        from minape_tf.deploy import onnx
    except ImportError as exc:   # pragma: no cover - the extra is in requirements.txt
        raise ValueError(f"ONNX export needs tf2onnx and onnxruntime ({exc}): pip install "
                         "'minape-tf[onnx]', or formats=savedmodel / tflite") from exc

    def write(part, content, extra=None, **fields):
        extra = {**(extra or {}), **contract.onnx_tensors(content)}
        return folder.write(part, content, name, extra=extra, **fields)

    written = [write("onnx", onnx.convert_model(model), extra={"features": "outside"})]
    if model.arguments.get("sequence_length", 1) > 1:
        written.append(write("onnx_head", onnx.convert_head(model)))
    written += [write("onnx_features", onnx.convert_features(g), group=g.name)
                for g in model.groups if g.kind == "series"]
    return dict(written)


def _histories(model, length) -> dict:
    """How to feed a model of device histories (:mod:`minape_tf.deploy.histories`)."""

    encoder, _ = split_model(model)
    return {"vector": int(encoder.output.shape[-1]), "steps": length,
            "feed": "the model files (savedmodel serving_default, tflite_<variant>, onnx) "
                    "take single observations and return their 'vectors'; the head "
                    "(savedmodel 'head', tflite_head, onnx_head) takes 'steps' (batch, "
                    f"{length}, vector): a device's last {length} vectors, oldest first, a "
                    "short history padded at the old end with copies of its oldest vector"}


def _lite(folder, role, content, name, variant=None, group=None, **extra) -> tuple:
    """Write a TFLite file; its entry names the operators it uses."""
    ops = op_names(content)
    fields = {k: v for k, v in (("variant", variant), ("group", group)) if v is not None}
    return folder.write(role, content, name, **fields, extra={
        **extra, **contract.tflite_tensors(content), "ops": ops,
        "select_ops": any(op.startswith("Flex") for op in ops)})


def _default_name(path) -> str:
    base = os.path.basename(os.path.normpath(os.fspath(path)))
    base = os.path.splitext(base)[0] if base.endswith(".keras") else base
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in base) or "minape"


def _print(described, out_dir):
    print(f"Exported {described['name']} ({', '.join(described['classes'])}) to "
          f"{os.path.abspath(out_dir)}:")
    for key, entry in described["files"].items():
        line = f"  {key:22s} {entry['bytes'] / 1e6:8.3f} MB  {entry['path']}"
        if "ops" in entry:
            line += f"\n  {'':22s} ops: {', '.join(entry['ops'])}"
        measured = agreement.describe(key, entry)
        if measured:
            line += f"\n  {'':22s} {measured}"
        print(line)
