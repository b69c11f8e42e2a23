"""The shared test harness: tiny settings, groups and inputs, and :func:`run_model_test`,
which every registered model goes through (as keras-hub's ``run_backbone_test``).

Tests import from here rather than spelling their own tiny configurations; the tiny trained
run that several tests read is the session fixture ``tiny_run`` in ``conftest.py``.
"""

import keras
import numpy as np

from minape_tf import ImageGroup, SeriesGroup

# The smallest Minape that exercises every stage, and the demo run it trains in.
TINY = dict(width=8, depth=1, patch_size=8, kernel_size=3)
DEMO = dict(dataset="demo", dataset_options={"n_tools": 4, "runs_per_tool": 6}, batch_size=8,
            model=dict(TINY), early_stopping=0, verbose=0, seed=1)

IMAGE = ImageGroup("tool", channels=3, size=(16, 16))
SERIES = SeriesGroup("force", channels=2, sample_rate=8000, length=1024, n_fft=128, hop=64,
                     n_mels=16)
SMALL_VIT = dict(patch_size=4, projection_dim=8, num_heads=2, transformer_layers=1,
                 transformer_units=(16, 8), mlp_head_units=(16,))
# Per registered model: its smallest arguments, and groups where IMAGE + SERIES do not fit.
SMALL = {
    "minape": dict(TINY, patch_size=4),
    "vit": SMALL_VIT,
    "sl-vit": SMALL_VIT,
    "tcn": dict(filters=4, levels=2, kernel_size=3, time_steps=64),
    "efficientnetv2-m": dict(backbone="efficientnetv2-b0"),
    "mulmix": dict(units=8, encoder_filters=(4, 8)),
    "embracenet": dict(embracement_size=8, encoder_filters=(4, 8), embracement_seed=0),
}
GROUPS = {"efficientnetv2-m": [IMAGE.replace(size=(32, 32)), SERIES]}


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def random_inputs(of, batch, sequence_length=1, features_in_model=False, seed=0):
    """Random float32 inputs for a built model (``of``: a ``keras.Model``, by its inputs) or
    for a list of groups (by their input shapes)."""
    rng = np.random.default_rng(seed)
    if isinstance(of, keras.Model):
        return {t.name.split(":")[0]: rng.uniform(size=(batch, *t.shape[1:])).astype("float32")
                for t in of.inputs}
    lead = (batch,) if sequence_length == 1 else (batch, sequence_length)
    return {g.name: rng.normal(size=lead + g.input_shape(features_in_model)).astype("float32")
            for g in of}


def run_model_test(name, tmp_path, *, num_classes=3):
    """Registered model ``name`` built small: one training step changes its weights, its
    outputs are class probabilities, and a ``.keras`` round trip through
    :func:`minape_tf.load_model` gives the same outputs. Returns ``(model, inputs,
    outputs, path)`` for further checks (export, predict)."""
    from minape_tf import load_model
    from minape_tf.models.registry import build_model

    model = build_model(name, GROUPS.get(name, [IMAGE, SERIES]), num_classes, **SMALL[name])
    x = random_inputs(model, 4)
    y = keras.utils.to_categorical(np.arange(4) % num_classes, num_classes)
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    # One step: TensorFlow runs it faster eagerly than traced; JAX compiled (eager JAX
    # compiles every operation on its own).
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy",
                  run_eagerly=keras.backend.backend() == "tensorflow")
    assert np.isfinite(model.train_on_batch(x, y))
    assert any(not np.allclose(a, to_numpy(b)) for a, b in zip(before, model.trainable_weights))
    out = to_numpy(model(x))
    assert out.shape == (4, num_classes) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    np.testing.assert_allclose(to_numpy(load_model(path)(x)), out, atol=1e-6)
    return model, x, out, path
