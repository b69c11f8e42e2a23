"""Milliseconds per training step on this CPU, with TensorFlow's intra-op pool at its default
(one thread per core) and at one thread (what :func:`minape_tf.training.precision.
resolve_threads` sets without a GPU), each in a fresh process (threads are fixed once
TensorFlow's runtime starts).

Models, batch 32, AdamW, random data held in memory (the step alone, no pipeline):

* ``ucr_1d``: the one-dimensional pathway (``representation="raw"``) for a 150-sample series
  (GunPoint: width 64, depth 8, patch 2, kernel 9);
* ``fsdd``: the ``fsdd`` preset on FSDD's 61x32 log-Mel (the README's model);
* ``mudestreda``: the ``mudestreda`` preset on a 256x256x3 photo and a 256x256x9
  spectrogram stack (a GPU's model; a few steps only).

Prints and writes JSON: per model, the median milliseconds of each setting and their ratio,
the machine.

    python scripts/bench_train_step.py --out scripts/results/train_step_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench_common import emit
from minape_tf.evaluation.machine import describe

STEPS = {"ucr_1d": 40, "fsdd": 40, "mudestreda": 4}


def _model(name):
    from minape_tf import ImageGroup, SeriesGroup, build_minape, presets

    if name == "ucr_1d":
        group = SeriesGroup("series", channels=1, sample_rate=100, length=150,
                            representation="raw")
        return build_minape([group], 2, width=64, depth=8, patch_size=2, kernel_size=9)
    if name == "fsdd":
        group = SeriesGroup("audio", channels=1, sample_rate=8000, length=8000, n_fft=256,
                            hop=128, n_mels=32)
        return build_minape([group], 10, **presets["fsdd"])
    groups = [ImageGroup("tool", channels=3, size=(256, 256)),
              ImageGroup("spec", channels=9, size=(256, 256))]
    return build_minape(groups, 3, **presets["mudestreda"])


def _one(name, steps):
    """Time ``steps`` training steps of ``name`` in this process; returns milliseconds."""
    import keras
    import numpy as np

    model = _model(name)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = {t.name.split(":")[0]: rng.normal(size=(32, *t.shape[1:])).astype("float32")
         for t in model.inputs}
    y = keras.utils.to_categorical(rng.integers(0, model.output.shape[-1], 32),
                                   model.output.shape[-1])
    model.train_on_batch(x, y)                               # traced once, not timed
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=list(STEPS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_one(args.child, STEPS[args.child])))
        return
    rows = []
    for name in args.models:
        row = {"model": name}
        for label, threads in (("default_ms", None), ("one_thread_ms", "1")):
            env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
            if threads:
                env["TF_NUM_INTRAOP_THREADS"] = threads
            done = subprocess.run([sys.executable, __file__, "--child", name], env=env,
                                  capture_output=True, text=True, check=True)
            row[label] = round(float(done.stdout.strip().splitlines()[-1]), 1)
        row["speedup"] = round(row["default_ms"] / row["one_thread_ms"], 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {"script": "scripts/bench_train_step.py", "machine": describe(),
               "batch": 32, "models": rows}
    emit(summary, args.out)


if __name__ == "__main__":
    main()
