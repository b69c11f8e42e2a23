"""Predict with a minape-tf export on a machine without TensorFlow, Keras or minape-tf.

Copy this file next to an export folder (written by ``minape export``). It needs numpy, a
runtime -- LiteRT (``pip install ai-edge-litert``) for the ``.tflite`` files or ONNX Runtime
(``pip install onnxruntime``) for the ``.onnx`` ones -- and, for the inputs you have,
soundfile (any WAV; without it, the standard ``wave`` module reads 16-bit PCM) and Pillow
(images). Everything else it needs is in the folder's ``export.json``: how each group's
files are read, resampled, trimmed or padded, scaled and resized, which features file goes
with which model file, and the tensors' names and shapes::

    python edge_predict.py EXPORT_DIR recording.wav [more.wav ...] [--use onnx]
    python edge_predict.py EXPORT_DIR --manifest observations.csv

A manifest has a column per group (``tool``), per group input (``spec.x``) or per input
name, paths relative to the CSV, and an optional ``id``. The output is the CSV of ``minape
predict``: ``id``, ``class``, one probability per class. The series resampler below agrees
with the training resampler to about 1e-6 of a signal's peak (float64 here, float32 in
TensorFlow); the image resize is TensorFlow's antialiased bilinear, computed in numpy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

VERSION = 1                       # the export.json version this client reads


# ----------------------------------------------------------------------------- export.json

def read_export(folder) -> dict:
    with open(os.path.join(folder, "export.json"), encoding="utf-8") as f:
        info = json.load(f)
    if info.get("format") != "minape-export" or info.get("version", 0) > VERSION:
        sys.exit(f"{folder}/export.json: not an export this client reads (format "
                 f"{info.get('format')!r}, version {info.get('version')})")
    if info.get("sequence_length", 1) > 1:
        sys.exit(f"{folder}: a model of device histories; feed its encoder and head as "
                 "export.json's 'histories' says (minape_tf.deploy.DeviceHistories)")
    return info


def choose(info, use=None) -> str:
    """The model file to run: ``use``, else float32 TFLite, else ONNX."""
    models = [k for k, f in info["files"].items()
              if f["role"] == "model" and f.get("features") == "outside"
              and f["format"] in RUNTIMES]
    use = use or next((k for k in ("tflite_float32", "onnx") if k in models),
                      models[0] if models else None)
    if use not in models:
        sys.exit(f"--use {use}: this export holds {models}")
    return use


# ----------------------------------------------------------------------------- runtimes

def _litert(path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner()
    return lambda inputs: next(iter(runner(**inputs).values()))


def _onnxruntime(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, inputs)[0]


RUNTIMES = {"tflite": _litert, "onnx": _onnxruntime}


def load(folder, entry):
    """A function ``{input name: float32 array} -> first output`` for a file entry."""
    return RUNTIMES[entry["format"]](os.path.join(folder, entry["path"]))


# ----------------------------------------------------------------------------- series

def read_series(path):
    """``(float32 (samples, channels), rate or None)``."""
    if path.lower().endswith(".npy"):
        data = np.load(path, allow_pickle=False).astype(np.float32)
        return (data[:, None] if data.ndim == 1 else data), None
    if path.lower().endswith(".csv"):
        data = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
        return data, None
    try:
        import soundfile

        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return data, rate
    except ImportError:
        import wave

        with wave.open(path) as w:
            if w.getsampwidth() != 2:
                sys.exit(f"{path}: only 16-bit PCM without soundfile (pip install soundfile)")
            raw = np.frombuffer(w.readframes(w.getnframes()), "<i2")
            data = raw.reshape(-1, w.getnchannels()).astype(np.float32) / 32768.0
            return data, w.getframerate()


def resample(x, up, down, half_len, beta, length):
    """scipy's ``resample_poly(x, up, down)`` along axis 0 (its first ``length`` samples;
    ``None``: all): output ``n`` is ``sum_k x[k] h[n*down - k*up + half_len]``."""
    taps = 2 * half_len + 1
    m = np.arange(taps) - half_len
    cutoff = 1.0 / max(up, down)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(taps, beta)
    h = h / h.sum() * up
    n = len(x)
    total = -(-n * up // down) if length is None else min(-(-n * up // down), length)
    out = np.zeros((total, x.shape[1]))
    width = (taps - 1) // up + 2
    for start in range(0, total, 4096):                  # blocks bound the memory used
        t = np.arange(start, min(start + 4096, total)) * down + half_len
        k = np.maximum(-(-(t - taps + 1) // up), 0)[:, None] + np.arange(width)
        index = t[:, None] - k * up
        valid = (k < n) & (index >= 0) & (index < taps)
        weights = np.where(valid, h[np.where(valid, index, 0)], 0.0)
        out[start:start + len(t)] = np.einsum("nk,nkc->nc", weights,
                                              x[np.where(valid, k, 0)])
    return out.astype(np.float32)


def fit(x, length):
    """The first ``length`` samples, zero-padded at the end."""
    x = x[:length]
    return np.pad(x, ((0, length - len(x)), (0, 0)))


def series_input(paths, rule):
    """One group's series files as ``(1, length, channels)``, as the training pipeline
    makes them: mixed down for a one-channel input, resampled from the file's rate to the
    group's ``rate`` (as ``minape predict`` does), from there to the model's rate, fitted
    to ``length``, and the inputs' channels concatenated."""
    parts = []
    for path in paths:
        data, rate = read_series(path)
        if rule["channels_per_input"] == 1 and data.shape[1] > 1:
            data = data.mean(axis=1, keepdims=True)
        if rate is not None and rate != rule["rate"]:
            up, down = _ratio(rate, rule["rate"])
            data = resample(data, up, down, 10 * max(up, down), 5.0, None)
        if rule["resample"]:
            r = rule["resample"]
            data = resample(data, r["up"], r["down"], r["half_len"], r["beta"],
                            rule["length"])
        parts.append(fit(data, rule["length"]))
    return np.concatenate(parts, axis=1)[None].astype(np.float32)


def _ratio(source, target):
    from math import gcd

    g = gcd(int(source), int(target))
    return int(target) // g, int(source) // g


# ----------------------------------------------------------------------------- images

GRAY = np.array([0.2989, 0.5870, 0.1140], np.float32)


def read_image(path, channels):
    """float32 ``(h, w, channels)`` in [0, 1], channels converted as in training."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        pixels = np.asarray(image)
    scale = 65535.0 if pixels.dtype in (np.uint16, np.int32) else 255.0
    x = pixels.astype(np.float32) / scale
    x = x[:, :, None] if x.ndim == 2 else x
    found = x.shape[-1]
    if found == channels:
        return x
    if channels == 3:
        return np.repeat(x[..., :1], 3, axis=-1) if found < 3 else x[..., :3]
    return x[..., :1] if found < 3 else (x[..., :3] @ GRAY)[..., None]


def _resize_weights(size_in, size_out):
    """TensorFlow's antialiased triangle-kernel weights ``(size_out, size_in)``."""
    inv = size_in / size_out
    kernel_scale = max(inv, 1.0)
    weights = np.zeros((size_out, size_in))
    for i in range(size_out):
        centre = (i + 0.5) * inv
        lo = min(max(int(np.ceil(centre - kernel_scale - 0.5)), 0), size_in - 1)
        hi = min(max(int(np.floor(centre + kernel_scale - 0.5)), 0), size_in - 1) + 1
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j + 0.5 - centre) / kernel_scale))
        if w.sum() > 0:
            weights[i, lo:hi] = w / w.sum()
    return weights


def resize(image, size, keep_aspect=False):
    """Bilinear with antialiasing to ``size``, clipped to [0, 1] (export.json's rule)."""
    if keep_aspect:            # zeros above and below (or left and right), as Keras pads
        h, w = image.shape[:2]
        height = max(h, int(np.float32(w * size[0]) / np.float32(size[1])))
        width = max(w, int(np.float32(h * size[1]) / np.float32(size[0])))
        top, left = int(np.float32(height - h) / 2), int(np.float32(width - w) / 2)
        image = np.pad(image, ((top, top), (left, left), (0, 0)))
    rows = _resize_weights(image.shape[0], size[0])
    cols = _resize_weights(image.shape[1], size[1])
    out = np.einsum("iwc,jw->ijc", np.tensordot(rows, image.astype(np.float64), axes=1),
                    cols)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def image_input(paths, rule):
    parts = [resize(read_image(p, rule["channels_per_input"]), rule["size"],
                    rule["keep_aspect"]) for p in paths]
    return np.concatenate(parts, axis=-1)[None]


# ----------------------------------------------------------------------------- observations

def observations(info, files, manifest):
    """``[(id, {group: [paths]})]`` from loose files (a one-group model) or a manifest."""
    groups = list(info["preprocessing"])
    if not manifest:
        if len(groups) != 1 or len(info["preprocessing"][groups[0]]["inputs"]) != 1:
            sys.exit(f"the model reads {groups}: give a --manifest CSV")
        return [(f, {groups[0]: [f]}) for f in files]
    root = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    out = []
    for line, row in enumerate(rows, start=2):
        paths = {}
        for g in groups:
            names = ([g] if g in row else [c for c in row if c.startswith(f"{g}.")] or
                     [c for c in info["preprocessing"][g]["inputs"] if c in row])
            if not names:
                sys.exit(f"{manifest}: no column for group {g!r}")
            paths[g] = [os.path.join(root, row[c]) for c in names]
        out.append((row.get("id") or f"{manifest}:{line}", paths))
    return out


def predict(folder, files=(), manifest=None, use=None):
    """``(classes, [(id, probabilities)])``."""
    info = read_export(folder)
    key = choose(info, use)
    entry = info["files"][key]
    model = load(folder, entry)
    stages = {g: load(folder, info["files"][k]) for g, k in entry.get("pairs_with", {}).items()}
    results = []
    for ident, paths in observations(info, files, manifest):
        inputs = {}
        for group, rule in info["preprocessing"].items():
            if rule["kind"] == "series":
                inputs[group] = stages[group]({"series": series_input(paths[group], rule)})
            else:
                inputs[group] = image_input(paths[group], rule)
        results.append((ident, model({k: np.ascontiguousarray(v, np.float32)
                                      for k, v in inputs.items()})[0]))
    return info["classes"], results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="the export folder (export.json)")
    parser.add_argument("files", nargs="*", help="files of a one-input model")
    parser.add_argument("--manifest", help="CSV with a column per group or input")
    parser.add_argument("--use", help="the model file's key (default tflite_float32, "
                                      "else onnx)")
    args = parser.parse_args(argv)
    if bool(args.files) == bool(args.manifest):
        parser.error("give either FILE... or --manifest CSV")
    classes, results = predict(args.export, args.files, args.manifest, args.use)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["id", "class", *classes])
    for ident, p in results:
        writer.writerow([ident, classes[int(np.argmax(p))], *(float(v) for v in p)])


if __name__ == "__main__":
    main()
