"""Every depthwise form equals Keras' DepthwiseConv2D: outputs, gradients, saved weights;
``auto``'s rule; the benchmark scripts run (``--tiny``)."""

import keras
import numpy as np
import pytest

from minape_tf.layers import ChannelPointBlock, DepthwiseConv
from minape_tf.layers.depthwise import MAX_TOEPLITZ_ENTRIES, auto_form
from minape_tf.layers.depthwise_forms import FORMS, MAX_TILE_TAPS, fft_length, kernel_tiles

# (height, width, kernel): odd and even kernels, square and non-square grids, grids smaller
# than the kernel, a single position.
SHAPES = [(7, 7, 3), (6, 9, 4), (3, 2, 5), (4, 4, 12), (1, 1, 2), (9, 6, 13), (5, 7, 9)]


def _vjp(fn, x, kernel, upstream):
    """Gradients of ``sum(fn(x, kernel) * upstream)`` with respect to ``x`` and ``kernel``."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        x, kernel = tf.constant(x), tf.constant(kernel)
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            loss = tf.reduce_sum(fn(x, kernel) * upstream)
        return [g.numpy() for g in tape.gradient(loss, [x, kernel])]
    if backend == "jax":
        import jax
        import jax.numpy as jnp
        grads = jax.jit(jax.grad(lambda a, b: jnp.sum(fn(a, b) * upstream),
                                 argnums=(0, 1)))(x, kernel)
        return [np.asarray(g) for g in grads]
    pytest.skip(f"no gradient helper for the {backend} backend")


def _assert_close(actual, expected, what):
    """Within 1e-5 of the expected values' scale (float32 FFT round-off is ~1e-7)."""
    error = np.max(np.abs(actual - expected)) / np.max(np.abs(expected))
    assert error < 1e-5, f"{what}: relative error {error:.2e}"


@pytest.mark.backend
@pytest.mark.parametrize("form", ["matmul", "fft", "tiles"])
@pytest.mark.parametrize("h, w, k", SHAPES)
def test_form_equals_depthwise_conv2d_in_outputs_and_gradients(form, h, w, k):
    rng = np.random.default_rng(h * 100 + w * 10 + k)
    x = rng.standard_normal((2, h, w, 3)).astype("float32")
    kernel = rng.standard_normal((k, k, 3)).astype("float32")
    upstream = rng.standard_normal((2, h, w, 3)).astype("float32")
    reference = keras.layers.DepthwiseConv2D(k, padding="same", use_bias=False)
    reference.build(x.shape)
    reference.kernel.assign(kernel[..., None])
    expected = keras.ops.convert_to_numpy(reference(x))
    _assert_close(keras.ops.convert_to_numpy(FORMS[form](x, kernel)), expected, "output")
    for name, got, want in zip(("d/dx", "d/dkernel"), _vjp(FORMS[form], x, kernel, upstream),
                               _vjp(FORMS["conv"], x, kernel, upstream)):
        _assert_close(got, want, name)


def _model(form, old=False):
    inputs = keras.Input((6, 6, 4))
    block = ChannelPointBlock(5, depthwise="conv" if old else form, name="block")
    if old:  # the block as it was before the forms: Keras' own layer under the same attribute
        block.depthwise = keras.layers.DepthwiseConv2D(5, padding="same", name="depthwise")
    x = block(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


@pytest.mark.backend
@pytest.mark.parametrize("form", ["conv", "matmul", "fft", "tiles"])
def test_every_form_loads_weights_saved_with_depthwise_conv2d(tmp_path, form):
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 4)).astype("float32")
    old = _model(None, old=True)
    old.get_layer("block").depthwise.bias.assign(np.linspace(-1, 1, 4))
    old.save_weights(tmp_path / "old.weights.h5")
    new = _model(form)
    new.load_weights(tmp_path / "old.weights.h5")
    assert sorted(v.path for v in new.weights) == sorted(v.path for v in old.weights)
    _assert_close(keras.ops.convert_to_numpy(new(x)), keras.ops.convert_to_numpy(old(x)),
                  "output")


@pytest.mark.backend
@pytest.mark.parametrize("saved, loaded", [("conv", "fft"), ("fft", "matmul"), ("matmul", "conv"),
                                           ("auto", "matmul")])
def test_keras_file_round_trip_across_forms(tmp_path, saved, loaded):
    x = np.random.default_rng(1).standard_normal((3, 6, 6, 4)).astype("float32")
    model = _model(saved)
    model.get_layer("block").depthwise.bias.assign(np.linspace(-1, 1, 4))
    expected = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.get_layer("block").get_config()["depthwise"] == saved
    _assert_close(keras.ops.convert_to_numpy(again(x)), expected, "reloaded")
    other = _model(loaded)
    other.load_weights(tmp_path / "m.keras")
    assert other.get_layer("block").depthwise.resolved_form == loaded
    _assert_close(keras.ops.convert_to_numpy(other(x)), expected, f"{saved} -> {loaded}")


@pytest.mark.backend
def test_auto_on_this_cpu():
    assert keras.distribution.list_devices()[0].startswith("cpu")
    block = ChannelPointBlock(13)
    block.build((None, 32, 32, 128))
    assert block.depthwise.resolved_form == auto_form(32, 32, 128, 13, device="cpu") == "conv"
    assert auto_form(None, None, 128, 13) == "conv"


def test_auto_on_accelerators_bounds_the_toeplitz_memory():
    assert auto_form(32, 32, 128, 13, device="gpu") == "matmul"  # exactly the bound
    assert (32 * 32) ** 2 * 128 == MAX_TOEPLITZ_ENTRIES
    assert auto_form(32, 32, 256, 13, device="gpu") == "fft"
    assert auto_form(64, 64, 128, 13, device="tpu") == "fft"


@pytest.mark.parametrize("kh, kw, pieces", [(13, 13, 7), (12, 12, 6), (9, 9, 4), (5, 5, 1),
                                            (3, 13, 2), (1, 1, 1)])
def test_kernel_tiles_cover_every_tap_once_in_small_pieces(kh, kw, pieces):
    covered = np.zeros((kh, kw), int)
    for r, c, rows, cols in kernel_tiles(kh, kw):
        assert rows * cols <= MAX_TILE_TAPS
        covered[r:r + rows, c:c + cols] += 1
    assert (covered == 1).all() and len(kernel_tiles(kh, kw)) == pieces


def test_fft_lengths_leave_room_for_the_kernel():
    assert fft_length(32, 13) == 38          # 32 + 6: no wrap-around into the grid
    assert fft_length(2, 13) == 13           # the kernel must fit
    assert fft_length(7, 4) == 9


def test_unsupported_arguments_are_errors():
    with pytest.raises(ValueError, match="depthwise='fast'"):
        ChannelPointBlock(3, depthwise="fast")
    with pytest.raises(ValueError, match="strides=2"):
        DepthwiseConv(3, strides=2)


@pytest.mark.backend
def test_build_minape_gives_every_block_the_form():
    from minape_tf import ImageGroup, build_minape

    groups = [ImageGroup("a", channels=3, size=(16, 16)), ImageGroup("b", channels=1, size=(8, 8))]
    model = build_minape(groups, 2, width=4, depth=2, patch_size=2, kernel_size=3,
                         depthwise="matmul")
    blocks = [layer for layer in model.layers if isinstance(layer, ChannelPointBlock)]
    assert len(blocks) == 4
    assert {b.depthwise.resolved_form for b in blocks} == {"matmul"}
    with pytest.raises(ValueError, match="depthwise='toeplitz'"):
        build_minape(groups, 2, width=4, depth=0, patch_size=2, depthwise="toeplitz")


@pytest.mark.slow
@pytest.mark.parametrize("script, backend", [("bench_cpu.py", "tensorflow"),
                                             ("bench_gpu.py", "jax")])
def test_benchmark_scripts_run_tiny(script, backend):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(root)}
    args = ["--tiny"] + (["--part", "models"] if script == "bench_cpu.py"
                         else ["--dtypes", "mixed_bfloat16"])
    done = subprocess.run([sys.executable, str(root / "scripts" / script), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    rates = report["models"]["batch_1"] if script == "bench_cpu.py" \
        else report["samples_per_s"]["mixed_bfloat16/train_b2"]
    assert {"vit", "official/conv"} <= set(rates)


@pytest.mark.slow
def test_bench_deploy_runs_tiny_and_reports_every_path():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, str(root / "scripts" / "bench_deploy.py"), "--tiny"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    rows = report["rows"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                          text=True)
    if head.returncode == 0:                   # a git checkout: the commit measured
        assert report["commit"]["sha"] == head.stdout.strip()
    assert report["machine"]["isa"] != "" and report["load_average_end"] is not None
    paths = {(r["model"], r["path"], r["batch"]) for r in rows}
    lite = [f"tflite_{q}" for q in ("float32", "float16", "dynamic", "int8")]
    for model in ("mudestreda", "mudestreda-fast", "official", "vit"):
        exported = lite + ([] if model == "vit" else ["tflite_float32_conv"])
        for batch in (1, 32):
            assert {(model, p, batch) for p in ["keras", *exported]} <= paths
    assert all(r["gflop_per_sample"] > 0 and r["ms"] > 0 for r in rows)
    assert all(r["vit_over_minape"] is not None for r in rows
               if r["model"] != "vit" and r["path"] != "tflite_float32_conv")
