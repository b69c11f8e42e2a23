"""What the benchmark scripts share: the models compared, the timer, the commit measured.

* The Minape configurations, all on the Mudestreda observation of the official code: a
  tool photo 256x256x3 and the three force spectrogram images stacked, 256x256x9.
  ``mudestreda`` is the project's preset (``presets["mudestreda"]``; patch 8: 32x32
  grids); ``official`` the authors' configuration (width 128, depth 4, patch 12, kernel 12:
  21x21 grids).
* A reference ViT of the keras-io kind on the same inputs: each input cut into 16x16
  patches, linearly embedded (dim 256) with a learned position embedding, the 512 tokens
  of both inputs through 8 pre-norm transformer blocks (4 heads of 64, MLP 1024, GELU),
  layer norm, average over tokens, softmax. About 7.2M parameters.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path


import keras

from minape_tf import ImageGroup, build_minape, presets

NUM_CLASSES = 3
CONFIGS = {
    "mudestreda": dict(presets["mudestreda"]),
    "official": dict(width=128, depth=4, patch_size=12, kernel_size=12, fusion="concat"),
}
TINY = dict(width=8, depth=2, patch_size=4, kernel_size=5, fusion="concat")


def groups(size=256):
    return [ImageGroup("tool", channels=3, size=(size, size)),
            ImageGroup("spec", channels=9, size=(size, size))]


def minape(config, depthwise, size=256, dtype=None):
    settings = TINY if size < 64 else CONFIGS[config]
    return build_minape(groups(size), NUM_CLASSES, **settings, depthwise=depthwise, dtype=dtype,
                        name=f"{config}_{depthwise}")


def vit(size=256, patch=16, dim=256, depth=8, heads=4, mlp=1024, dtype=None):
    """The reference ViT (see the module docstring); ``size < 64`` gives a tiny one."""
    if size < 64:
        patch, dim, depth, heads, mlp = 4, 16, 2, 2, 32
    layers = keras.layers
    inputs, tokens = {}, []
    for group in groups(size):
        inputs[group.name] = x = keras.Input((size, size, group.channels), name=group.name)
        x = layers.Conv2D(dim, patch, strides=patch, dtype=dtype, name=f"{group.name}_patches")(x)
        tokens.append(layers.Reshape((-1, dim), dtype=dtype)(x))
    x = layers.Concatenate(axis=1, dtype=dtype)(tokens)
    x = PositionEmbedding(dtype=dtype)(x)
    for i in range(depth):
        h = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)(x)
        h = layers.MultiHeadAttention(heads, dim // heads, dtype=dtype)(h, h)
        x = layers.Add(dtype=dtype)([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)(x)
        h = layers.Dense(mlp, activation="gelu", dtype=dtype)(h)
        h = layers.Dense(dim, dtype=dtype)(h)
        x = layers.Add(dtype=dtype)([x, h])
    x = layers.LayerNormalization(epsilon=1e-6, dtype=dtype)(x)
    x = layers.GlobalAveragePooling1D(dtype=dtype)(x)
    x = layers.Dense(NUM_CLASSES, dtype=dtype)(x)
    out = layers.Activation("softmax", dtype="float32")(x)
    return keras.Model(inputs, out, name="vit")


class PositionEmbedding(keras.layers.Layer):
    """A learned vector per token position, added."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=input_shape[1:], initializer="random_normal",
                                         name="embedding")

    def call(self, x):
        return x + self.embedding


def input_specs(model) -> dict:
    """``{input name: tf.TensorSpec}`` of any Keras model's inputs, batch axis free: what
    :func:`minape_tf.deploy.tflite.inference_function` traces for a model that is not a
    Minape (a Minape's are :func:`minape_tf.deploy.tflite.model_specs`)."""
    import tensorflow as tf

    return {i.name: tf.TensorSpec([None, *i.shape[1:]], tf.float32, name=i.name)
            for i in model.inputs}


def interleaved(functions, rounds, calls=1):
    """Median milliseconds per call of each function, timed in alternating rounds so that
    the machine's load hits every candidate alike. Each function is called once first
    (compilation) and must block until its result is ready."""
    for fn in functions.values():
        fn()
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) * 1000 / calls)
    return {name: statistics.median(values) for name, values in times.items()}


def commit() -> dict | None:
    """The checkout a figure was measured on: ``{"sha": HEAD, "dirty": uncommitted changes
    to tracked files}``, or None outside a git checkout (or without git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"sha": sha, "dirty": bool(dirty.strip())}


def emit(report, out=None):
    """Print the report as JSON, and write it to ``out`` too when given."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
