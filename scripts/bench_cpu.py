"""CPU speed of the depthwise forms and of Minape against a ViT (TensorFlow backend).

Two parts, both timed in interleaved rounds (median ms):

* ``ops``: one depthwise convolution, 128 channels, at batch 1 and 32, in each form on the
  grids and kernels Minape uses (8x8 to 32x32, 36x8: a spectrogram's patch grid; kernels 3
  to 13). ``matmul`` only where its Toeplitz matrix stays small. The ``auto`` column is the
  form :func:`minape_tf.layers.depthwise.auto_form` picks; the rule was read from this table.
* ``models``: the ``mudestreda`` preset and the official configuration in each depthwise form
  (``auto`` included) and the reference ViT (``bench_common.py``), batch 1 and 32: ms per
  batch and per sample, and ratios against the ViT and against the ``conv`` form.

    python scripts/bench_cpu.py [--part ops|models|all] [--rounds 7] [--out FILE] [--tiny]

Prints JSON naming the machine; ``--tiny`` runs tiny shapes once (a smoke test).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bench_common
import numpy as np
import tensorflow as tf

from minape_tf.layers.depthwise import auto_form
from minape_tf.layers.depthwise_forms import FORMS, toeplitz_entries
from minape_tf.evaluation.machine import label

GRIDS = [(8, 8), (16, 16), (21, 21), (32, 32), (36, 8)]
KERNELS = [3, 5, 7, 9, 13]
CHANNELS = 128
BATCHES = (1, 32)
MATMUL_MAX_ENTRIES = 2 ** 24  # beyond this the Toeplitz product is hopeless on a CPU


def _forward(fn, *args):
    compiled = tf.function(fn, autograph=False)
    return lambda: compiled(*args).numpy()


def ops_part(rounds, tiny):
    rng = np.random.default_rng(0)
    grids, kernels, channels = ([(5, 4)], [3], 4) if tiny else (GRIDS, KERNELS, CHANNELS)
    rows = []
    for (h, w) in grids:
        for k in kernels:
            kernel = tf.constant(rng.standard_normal((k, k, channels)).astype("float32"))
            for batch in BATCHES:
                x = tf.constant(rng.standard_normal((batch, h, w, channels)).astype("float32"))
                forms = [f for f in FORMS if f != "matmul"
                         or toeplitz_entries(h, w, channels) <= MATMUL_MAX_ENTRIES]
                ms = bench_common.interleaved(
                    {f: _forward(FORMS[f], x, kernel) for f in forms}, rounds)
                rows.append({"grid": [h, w], "kernel": k, "batch": batch,
                             "ms": {f: round(v, 3) for f, v in ms.items()},
                             "fastest": min(ms, key=ms.get),
                             "auto": auto_form(h, w, channels, k, device="cpu"),
                             "fft_vs_conv": round(ms["fft"] / ms["conv"], 3)})
    return rows


def models_part(rounds, tiny):
    size = 16 if tiny else 256
    rng = np.random.default_rng(0)
    results = {}
    for batch in (1,) if tiny else BATCHES:
        x = {g.name: tf.constant(rng.random((batch, size, size, g.channels), dtype="float32"))
             for g in bench_common.groups(size)}
        models = {"vit": bench_common.vit(size)}
        for config in bench_common.CONFIGS:
            for form in ("auto", "conv", "fft", "tiles", "matmul"):
                if form == "matmul" and config == "mudestreda":
                    continue  # 32x32 grids: 512 MiB Toeplitz per block, minutes per batch
                models[f"{config}/{form}"] = bench_common.minape(config, form, size)
        ms = bench_common.interleaved(
            {name: _forward(lambda d, m=m: m(d, training=False), x)
             for name, m in models.items()}, rounds)
        results[f"batch_{batch}"] = {
            name: {"ms_per_batch": round(v, 2), "ms_per_sample": round(v / batch, 3),
                   "params": models[name].count_params(),
                   "vs_vit": round(ms["vit"] / v, 3),
                   **({"speedup_vs_conv": round(ms[name.split("/")[0] + "/conv"] / v, 3)}
                      if "/" in name else {})}
            for name, v in ms.items()}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("ops", "models", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, one round")
    parser.add_argument("--machine", default=label(),
                        help="how to name the machine in the JSON")
    args = parser.parse_args()
    rounds = 1 if args.tiny else args.rounds
    report = {"machine": args.machine, "cpu_count": os.cpu_count(), "backend": "tensorflow",
              "tensorflow": tf.__version__, "rounds": rounds, "tiny": args.tiny,
              "vs_vit": "ViT time / this time (>1: faster than the ViT)"}
    if args.part in ("ops", "all"):
        report["ops"] = ops_part(rounds, args.tiny)
    if args.part in ("models", "all"):
        report["models"] = models_part(rounds, args.tiny)
    bench_common.emit(report, args.out)


if __name__ == "__main__":
    main()
