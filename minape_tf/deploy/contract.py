"""What ``export.json`` says so that an export runs without minape-tf: how each group's
inputs are brought to the model (the rules of the training pipeline, in words and numbers),
which tensors each file takes and gives, which features file pairs with which model file,
and what every group setting means.

A client that follows these sections (``examples/edge_predict.py`` does, with numpy and a
runtime only) gets the probabilities of ``minape predict``. The schema of the whole file is
``minape_tf/outputs/export_schema.json``.
"""

from __future__ import annotations

import numpy as np

from minape_tf.arguments import from_dataclass
from minape_tf.deploy.serving import input_names
from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.layers.resample import ratio

RESAMPLE = ("polyphase (scipy.signal.resample_poly(x, up, down) along time): a Kaiser-windowed "
            "(beta 5.0) low-pass FIR of 2 * half_len + 1 taps, half_len = 10 * max(up, down), "
            "cutoff 1 / max(up, down) of Nyquist, gain up; zero padding at both ends; "
            "ceil(samples * up / down) output samples")
FIT = ("after resampling, keep the first `length` samples; a shorter series is padded with "
       "zeros at its end to `length`")
READ = ("WAV: samples as float32 in [-1, 1) (integer PCM divided by 2^(bits-1)), one column "
        "per channel; .npy / CSV: (samples, channels) float32, taken as at `rate`")
IMAGE_SCALE = "uint8 pixels / 255, uint16 / 65535, floats as they are (in [0, 1])"
IMAGE_CHANNELS = ("gray (+alpha) to 3 channels: the gray channel repeated; RGB(A) to 1 "
                  "channel: 0.2989 R + 0.5870 G + 0.1140 B; alpha dropped")
IMAGE_RESIZE = ("bilinear with antialiasing (TensorFlow's scale_and_translate, triangle "
                "kernel widened by the downscaling factor, pixel centres at +0.5), to "
                "`size`; with keep_aspect, first padded with zeros, centred, to the aspect "
                "ratio of `size`; then clipped to [0, 1]")


def preprocessing(groups, files) -> dict:
    """``{group name: how its inputs reach the model}`` (see the module docstring);
    ``files`` (export.json's) gives each series group its features files."""
    return {g.name: (_series(g, files) if isinstance(g, SeriesGroup) else _image(g))
            for g in groups}


def _stacking(group) -> dict:
    names = input_names(group)
    return {"inputs": names, "channels_per_input": group.channels // len(names),
            "stack": "the inputs' channels concatenated in this order (last axis)"}


def _series(group, files) -> dict:
    up, down = ratio(group.input_rate, group.sample_rate)
    features = {key: f["path"] for key, f in files.items()
                if f.get("role") == "features" and f.get("group") == group.name}
    return {"kind": "series", **_stacking(group), "read": READ,
            "rate": group.input_rate, "model_rate": group.sample_rate,
            "resample": {"up": up, "down": down, "half_len": 10 * max(up, down),
                         "beta": 5.0, "rule": RESAMPLE} if up != down else None,
            "length": group.length, "fit": FIT,
            "level_normalization": group.normalize,
            "features": {"shape": list(group.feature_shape),
                         "representation": group.representation,
                         "computed_by": features,
                         "rule": "the features file takes the fitted series (batch, length, "
                                 "channels) and does the level normalisation, the "
                                 f"{group.representation} view and any spectral "
                                 "normalisation"}}


def _image(group) -> dict:
    return {"kind": "image", **_stacking(group), "scale": IMAGE_SCALE,
            "channels": IMAGE_CHANNELS, "size": list(group.size),
            "keep_aspect": group.keep_aspect, "resize": IMAGE_RESIZE,
            "features": {"shape": list(group.feature_shape)}}


def glossary() -> dict:
    """``{group setting: its meaning}``, from the group classes' own documentation."""
    meanings = {}
    for cls in (ImageGroup, SeriesGroup):
        for argument in from_dataclass(cls):
            if argument.help and not meanings.get(argument.name):
                meanings[argument.name] = argument.help
    return meanings


def _tensor(name, shape, dtype) -> dict:
    return {"name": name, "shape": [None if d is None or d < 0 else int(d) for d in shape],
            "dtype": np.dtype(dtype).name}


def tflite_tensors(content) -> dict:
    """``{"inputs": [...], "outputs": [...]}`` of a ``.tflite`` file's signature (names,
    shapes with ``None`` for a free axis, dtypes)."""
    from minape_tf.deploy.tflite import interpreter

    runner = interpreter(content=content).get_signature_runner()
    return {side: [_tensor(name, d.get("shape_signature", d["shape"]), d["dtype"])
                   for name, d in details.items()]
            for side, details in (("inputs", runner.get_input_details()),
                                  ("outputs", runner.get_output_details()))}


_ONNX_TYPES = {1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64"}


def onnx_tensors(content) -> dict:
    """``{"inputs": [...], "outputs": [...]}`` of an ONNX model (free axes ``None``)."""
    import onnx

    graph = onnx.load_from_string(content).graph

    def described(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            out.append({"name": v.name, "shape": shape,
                        "dtype": _ONNX_TYPES.get(t.elem_type, str(t.elem_type))})
        return out

    return {"inputs": described(graph.input), "outputs": described(graph.output)}
