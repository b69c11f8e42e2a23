"""The authors' published Minape weights and their way of preparing inputs.

The official code (hubtru/Minape, MIT licence) publishes ``models/spec_aug_tool_opt.h5``: the
spectrogram pathway trained with Keras 2.11 on augmented Mudestreda, tool split (a copy is in
``../shared/data/official/``). :func:`load_checkpoint` turns such a file into the
``build_minape`` model of the same architecture, with the same outputs.

Their notebooks (``iso_spec_aug_tooldist_opt.ipynb``, ``read_specs``) prepare the three force
spectrogram PNGs of an observation in a way that differs from :func:`minape_tf.data.make_dataset`
in four places; :func:`authors_spec_images` repeats it exactly, so that their numbers can be
reproduced:

1. ``cv2.imread``: 8-bit **BGR** order, alpha dropped;
2. ``cv2.resize(..., interpolation=cv2.INTER_CUBIC)``: bicubic (Keys, ``a = -0.75``), no
   antialiasing, rounded back to ``uint8`` (:func:`opencv_cubic_resize` does it in numpy, so
   OpenCV is not needed);
3. everything divided by the maximum over all images read (one call per split), and then, in
   the model, by 255 again (``Rescaling(1/255)``);
4. the ``3N`` images (X, Y, Z of observation 0, then of 1, ...) reshaped from
   ``(3N, S, S, 3)`` to ``(N, S, S, 9)`` (:func:`authors_stack`). That is not a stack of the
   three images pixel by pixel: the top third of the rows of each 9-channel tensor comes from
   specX, the middle from specY, the bottom from specZ, and each 9-channel pixel holds three
   horizontally neighbouring RGB pixels of one image.

Our pipeline reads RGB, resizes bilinearly with antialiasing, divides by 255 and stacks the
images along channels (pixel ``(r, c)`` holds X, Y and Z at ``(r, c)``). A model trained one way
does not transfer to the other: ``scripts/official_predictions.py`` shows the checkpoint's
predictions on the sample under both.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from minape_tf.groups import ImageGroup
from minape_tf.models.minape import build_minape
from minape_tf.models.presets import presets

CLASSES = ("sharp", "used", "dulled")
"""The checkpoint's classes, in output order (``tool_label - 1`` in the authors' notebooks)."""

SPEC_GROUP = ImageGroup("spec", channels=9, size=(256, 256), inputs=("specX", "specY", "specZ"),
                        modality="series")
"""The checkpoint's input: the three force spectrogram images of an observation, 256x256x9."""


def load_checkpoint(path, group=None):
    """Load an authors' Keras 2 ``.h5`` Minape pathway into a ``build_minape`` model.

    The sizes (width, depth, patch and kernel size, input shape) are read from the file, the
    rest is ``presets["mudestreda-official"]``, and the file is checked against Minape's form:
    ``Rescaling``, ``Conv2D(width, patch, strides=patch)``, exact GELU, BN, then ``depth`` x
    (``DepthwiseConv2D(kernel, padding="same")``, GELU, BN, add, ``Conv2D(width, 1)``, GELU,
    BN), global average pooling, ``Dense(classes, softmax)``.
    For ``spec_aug_tool_opt.h5`` that is ``presets["mudestreda-official"]`` on
    :data:`SPEC_GROUP` (311,299 parameters).

    The authors' ``Rescaling(scale, offset)`` layer is folded into the patch embedding (a
    linear convolution without padding, so ``conv(scale * x + offset)`` is the convolution with
    ``scale * kernel`` and a shifted bias): the returned model takes exactly the tensors the
    authors' model takes (their :func:`authors_spec_images`, values in [0, 1]) and gives the
    same probabilities, without an extra layer. Batch-norm statistics are loaded as they are.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file (Keras 2 ``model.save``).
    group : ImageGroup or None, default None
        The model's input group; ``None`` means :data:`SPEC_GROUP` for a 256x256x9 input
        (named ``spec``), else an ``ImageGroup("image")`` of the file's input shape.

    Returns
    -------
    keras.Model
        A ``build_minape`` model (``activation="gelu"``) with the file's weights; its outputs
        are the probabilities of :data:`CLASSES`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not a Keras 2 Minape pathway of the architecture above.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise ValueError(f"{path}: not a Keras 2 .h5 model file (no model_config / "
                             "model_weights)")
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        weights = {name: _layer_weights(f["model_weights"], name) for name in
                   (layer["config"]["name"] for layer in layers)}
    arch = _read_architecture(path, layers, weights)
    if group is None:
        group = SPEC_GROUP if arch["input_shape"] == SPEC_GROUP.feature_shape else ImageGroup(
            "image", channels=arch["input_shape"][2], size=arch["input_shape"][:2])
    if tuple(group.feature_shape) != arch["input_shape"]:
        raise ValueError(f"group={group!r}: its shape {group.feature_shape} is not the "
                         f"checkpoint's input {arch['input_shape']} ({path})")
    sizes = {key: arch[key] for key in ("width", "depth", "patch_size", "kernel_size")}
    model = build_minape([group], arch["num_classes"],
                         **{**presets["mudestreda-official"], **sizes},
                         name=f"minape_{path.stem}")
    _assign(model, group.name, arch)
    return model


def _layer_weights(weights_group, name):
    """A layer's weights from a Keras 2 h5 file: ``{short name: array}`` (``kernel``, ...)."""
    if name not in weights_group:
        return {}
    layer = weights_group[name]
    names = [n.decode() if isinstance(n, bytes) else n for n in layer.attrs["weight_names"]]
    return {n.split("/")[-1].split(":")[0]: np.asarray(layer[n]) for n in names}


def _read_architecture(path, layers, weights):
    """Check the layer sequence of the file and read its hyperparameters and weights."""
    def fail(message):
        raise ValueError(f"{path}: not a Minape pathway of the authors' form: {message}")

    kinds = [layer["class_name"] for layer in layers]
    configs = [layer["config"] for layer in layers]
    if kinds[:2] != ["InputLayer", "Rescaling"] or kinds[-2:] != [
            "GlobalAveragePooling2D", "Dense"]:
        fail(f"layers start with {kinds[:2]} and end with {kinds[-2:]}; expected InputLayer, "
             "Rescaling ... GlobalAveragePooling2D, Dense")
    bad_activations = {c.get("activation") for k, c in zip(kinds, configs)
                       if k == "Activation"} - {"gelu"}
    if bad_activations:
        fail(f"activations {sorted(bad_activations)}; expected only 'gelu'")
    if configs[-1].get("activation") != "softmax":
        fail(f"the Dense layer's activation is {configs[-1].get('activation')!r}, not softmax")
    named = [(k, weights[c["name"]]) for k, c in zip(kinds, configs) if weights[c["name"]]]
    body = [k for k, _ in named]
    depth = (len(body) - 3) // 4
    expected = ["Conv2D", "BatchNormalization"] + depth * [
        "DepthwiseConv2D", "BatchNormalization", "Conv2D", "BatchNormalization"] + ["Dense"]
    if body != expected:
        fail(f"weighted layers {body}; expected {expected}")
    patch = named[0][1]["kernel"]
    dense = named[-1][1]["kernel"]
    return dict(
        input_shape=tuple((configs[0].get("batch_input_shape")
                           or configs[0].get("batch_shape"))[1:]),
        scale=float(configs[1]["scale"]), offset=float(configs[1]["offset"]),
        width=patch.shape[-1], patch_size=patch.shape[0], depth=depth,
        kernel_size=named[2][1]["depthwise_kernel"].shape[0] if depth else 1,
        num_classes=dense.shape[-1], weights=[w for _, w in named])


def _assign(model, prefix, arch):
    """Copy the file's weights into the ``build_minape`` model, Rescaling folded in."""
    weights = arch["weights"]
    kernel, bias = weights[0]["kernel"], weights[0]["bias"]
    folded = [kernel * arch["scale"], bias + arch["offset"] * kernel.sum(axis=(0, 1, 2))]
    embedding = model.get_layer(f"{prefix}_patch_embedding")
    embedding.conv.set_weights(folded)
    embedding.norm.set_weights(_bn(weights[1]))
    for i in range(arch["depth"]):
        depthwise, dbn, pointwise, pbn = weights[2 + 4 * i: 6 + 4 * i]
        block = model.get_layer(f"{prefix}_block_{i}")
        block.depthwise.set_weights([depthwise["depthwise_kernel"], depthwise["bias"]])
        block.depthwise_norm.set_weights(_bn(dbn))
        block.pointwise.set_weights([pointwise["kernel"], pointwise["bias"]])
        block.pointwise_norm.set_weights(_bn(pbn))
    model.get_layer("classifier").set_weights([weights[-1]["kernel"], weights[-1]["bias"]])


def _bn(weights):
    return [weights[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")]


def opencv_cubic_resize(image, size):
    """``cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)`` in numpy.

    OpenCV's bicubic: Keys' kernel with ``a = -0.75``, half-pixel centres, edge pixels
    replicated, no antialiasing, horizontal pass then vertical pass, rounded to the nearest
    integer and saturated to ``uint8``. Checked against opencv-python-headless 4.10: equal on
    all but 30 of the 7.1 million values of the 36 sample images at 256x256 (those differ by
    1, at rounding ties), so OpenCV is not needed to reproduce the authors' inputs.

    Parameters
    ----------
    image : uint8 array (height, width) or (height, width, channels)
    size : (int, int)
        (height, width) of the result.

    Returns
    -------
    uint8 array (size[0], size[1], channels)
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image dtype {image.dtype}: expected uint8 (8-bit image)")
    if image.ndim == 2:
        image = image[..., None]
    rows, row_weights = _cubic_taps(image.shape[0], size[0])
    cols, col_weights = _cubic_taps(image.shape[1], size[1])
    horizontal = np.einsum("hwkc,wk->hwc", image[:, cols].astype(np.float64), col_weights)
    vertical = np.einsum("hkwc,hk->hwc", horizontal[rows], row_weights)
    return np.clip(np.rint(vertical), 0, 255).astype(np.uint8)


def _cubic_taps(n_in, n_out):
    """Source indices (n_out, 4), edge-clamped, and weights (n_out, 4) of OpenCV's cubic
    resize along one axis."""
    position = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    start = np.floor(position)
    t = position - start
    a = -0.75
    c0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    c1 = ((a + 2) * t - (a + 3)) * t * t + 1
    c2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    weights = np.stack([c0, c1, c2, 1 - c0 - c1 - c2], axis=1)
    index = np.clip(start.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return index, weights


def authors_stack(images):
    """The authors' ``images.reshape(N, S, S, 9)`` of three images per observation.

    ``images`` is ``(3 * N, S, S, 3)``: the images of observation 0 first (X, Y, Z), then of
    observation 1, ... The reshape keeps memory order, so observation ``n`` is the
    ``3 * S * S * 3`` numbers of its three images laid one after the other and re-cut into rows
    of ``S * 9`` numbers: see the module docstring. Kept as they did it, to reproduce them.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] % 3:
        raise ValueError(f"images of shape {images.shape}: expected (3 * N, S, S, channels), "
                         "three images (specX, specY, specZ) per observation")
    count, height, width, channels = images.shape
    return images.reshape(count // 3, height, width, 3 * channels)


def authors_spec_images(paths_x, paths_y, paths_z, size=SPEC_GROUP.size[0]):
    """The authors' ``read_specs``: spectrogram PNGs to the ``(N, S, S, 9)`` tensor they fed.

    OpenCV-style BGR ``uint8``, :func:`opencv_cubic_resize` to ``size`` x ``size``, all images
    divided by their common maximum (the authors called it once per split: pass one split's
    files to get the same numbers), and :func:`authors_stack`. The returned tensor goes into
    the authors' model or, the same, into :func:`load_checkpoint`'s model.

    Parameters
    ----------
    paths_x, paths_y, paths_z : sequences of paths, one per observation
    size : int, default 256

    Returns
    -------
    float32 array (N, size, size, 9)
    """

    if not len(paths_x) == len(paths_y) == len(paths_z):
        raise ValueError(f"{len(paths_x)} specX, {len(paths_y)} specY and {len(paths_z)} specZ "
                         "paths: expected one of each per observation")
    images = []
    for triple in zip(paths_x, paths_y, paths_z):
        for path in triple:
            try:
                with Image.open(path) as image:
                    bgr = np.asarray(image.convert("RGB"))[..., ::-1]
            except (OSError, ValueError) as error:
                raise ValueError(f"{path}: cannot read the image ({error})") from None
            images.append(opencv_cubic_resize(bgr, (size, size)))
    images = np.asarray(images, dtype=np.float32)
    if images.size == 0:
        raise ValueError("no spectrogram images given")
    return authors_stack(images / np.max(images))
