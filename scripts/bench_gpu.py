"""GPU throughput of Minape in its depthwise forms against a ViT (JAX backend).

In one run: the ``mudestreda`` preset and the official configuration (``bench_common.py``)
with the stock depthwise form (``conv``: Keras' grouped convolution) and the fast ones
(``auto``: what ``depthwise="auto"`` picks on this device; ``--forms`` adds ``fft`` or
``matmul``), and the reference ViT, on a tool photo 256x256x3 plus a 256x256x9 spectrogram
image stack. For each, in float32 and mixed_bfloat16: inference at batch 256 and 1024 and a
jitted SGD training step at batch 256, in samples/s (median of interleaved rounds), with
ratios against the ViT. The inputs sit on the device as uint8 and are scaled inside the
jitted function, as a pipeline feeding uint8 images would do.

    KERAS_BACKEND=jax python scripts/bench_gpu.py [--out FILE] [--rounds 5] [--forms conv,auto]
    python scripts/bench_gpu.py --tiny      # tiny shapes, one round: runs on a CPU too

Prints JSON naming the device (``jax.devices()[0].device_kind``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import bench_common
import jax
import jax.numpy as jnp
import keras
import numpy as np

from minape_tf.layers.depthwise import auto_form


def _inputs(size, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = {g.name: jax.device_put(rng.integers(0, 256, (batch, size, size, g.channels),
                                             dtype=np.uint8))
         for g in bench_common.groups(size)}
    y = jax.device_put(rng.integers(0, bench_common.NUM_CLASSES, batch).astype(np.int32))
    return x, y


def _scale(x):
    return {name: v.astype(jnp.float32) / 255.0 for name, v in x.items()}


def inference(model, x, calls):
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]
    forward = jax.jit(lambda t, f, x: model.stateless_call(t, f, _scale(x), training=False)[0])

    def run():
        for _ in range(calls):
            out = forward(trainable, frozen, x)
        out.block_until_ready()
    return run


def train_step(model, x, y, calls, learning_rate=0.01):
    state = {"t": [v.value for v in model.trainable_variables],
             "f": [v.value for v in model.non_trainable_variables]}

    def loss(t, f, x, y):
        probs, f = model.stateless_call(t, f, _scale(x), training=True)
        return jnp.mean(keras.losses.sparse_categorical_crossentropy(y, probs)), f

    @jax.jit
    def step(t, f, x, y):
        (value, f), grads = jax.value_and_grad(loss, has_aux=True)(t, f, x, y)
        return [w - learning_rate * g.astype(w.dtype) for w, g in zip(t, grads)], f, value

    def run():
        for _ in range(calls):
            state["t"], state["f"], value = step(state["t"], state["f"], x, y)
        value.block_until_ready()
    return run


def _models(configs, forms, size, dtype):
    models = {"vit": bench_common.vit(size, dtype=dtype)}
    for config in configs:
        for form in forms:
            models[f"{config}/{form}"] = bench_common.minape(config, form, size, dtype=dtype)
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="calls per timed round")
    parser.add_argument("--forms", default="conv,auto",
                        help="depthwise forms, comma-separated (conv, auto, fft, matmul)")
    parser.add_argument("--dtypes", default="float32,mixed_bfloat16")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, one round")
    args = parser.parse_args()
    if keras.backend.backend() != "jax":
        parser.error("run under KERAS_BACKEND=jax")
    size, batches, train_batch = (16, (2,), 2) if args.tiny else (256, (256, 1024), 256)
    rounds, calls = (1, 1) if args.tiny else (args.rounds, args.calls)
    forms = args.forms.split(",")
    configs = ["official"] if args.tiny else list(bench_common.CONFIGS)  # tiny: both alike
    device = jax.devices()[0]
    report = {"device": f"{device.device_kind} ({device.platform})", "backend": "jax",
              "jax": jax.__version__, "keras": keras.__version__, "tiny": args.tiny,
              "rounds": rounds, "calls_per_round": calls, "auto_forms": {},
              "samples_per_s": {}, "vs_vit": {}, "params": {}}
    for config in configs:
        s = bench_common.TINY if args.tiny else bench_common.CONFIGS[config]
        grid = size // s["patch_size"]
        report["auto_forms"][config] = auto_form(grid, grid, s["width"], s["kernel_size"])
    for dtype in args.dtypes.split(","):
        models = _models(configs, forms, size, dtype)
        report["params"] = {name: m.count_params() for name, m in models.items()}
        jobs = {}
        for batch in batches:
            x, _ = _inputs(size, batch)
            jobs[f"{dtype}/infer_b{batch}"] = (
                batch, {name: inference(m, x, calls) for name, m in models.items()})
        x, y = _inputs(size, train_batch)
        jobs[f"{dtype}/train_b{train_batch}"] = (
            train_batch, {name: train_step(m, x, y, calls) for name, m in models.items()})
        for job, (batch, functions) in jobs.items():
            ms = bench_common.interleaved(functions, rounds)
            rate = {name: round(batch * calls / (v / 1000), 1) for name, v in ms.items()}
            report["samples_per_s"][job] = rate
            report["vs_vit"][job] = {name: round(r / rate["vit"], 3) for name, r in rate.items()}
    bench_common.emit(report, args.out)


if __name__ == "__main__":
    main()
