"""Where the ``mudestreda`` preset's TFLite time goes: its depthwise kernel's share.

The preset (kernel 13) beside the same model with kernel 5 (one piece of 25 taps per
block, the most XNNPACK's one-pass depthwise kernels take) and kernel 1 (the depthwise
convolutions all but gone: patch embedding, pointwise convolutions, GELU, batch norm),
and the paper's ViT (m), untrained, each converted by the converter ``minape export``
calls (:func:`minape_tf.deploy.tflite.convert_model`, depthwise ``tiles``; the ViT by
:func:`minape_tf.deploy.tflite.convert_function`), timed in LiteRT
(XNNPACK, ``--threads``) at batch 1 in interleaved rounds (median ms). The kernel-13 time
less the kernel-1 time is what the 13x13 depthwise convolutions cost.

    python scripts/bench_kernel_share.py [--rounds 9] [--threads 2] [--out FILE]

Prints (and with ``--out`` writes) JSON: ``ms`` per model, ``depthwise_share`` (the part
of the preset's time the 13x13 depthwise convolutions take), ``vit_over_preset``, the
machine (at the start; ``load_average_end`` at the end) and the commit.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bench_common
import numpy as np

from minape_tf import build_minape, presets
from minape_tf.deploy import tflite
from minape_tf.evaluation.machine import describe
from minape_tf.models.baselines.vit import build_vit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    machine = describe()
    groups = bench_common.groups(256)
    preset = presets["mudestreda"]
    models = {f"kernel_{k}": build_minape(groups, 3, **{**preset, "kernel_size": k},
                                          depthwise="tiles")
              for k in (preset["kernel_size"], 5, 1)}
    models["vit"] = build_vit(groups, 3)
    rng = np.random.default_rng(0)
    x = {i.name: rng.uniform(0, 1, (1, *i.shape[1:])).astype("float32")
         for i in models["vit"].inputs}
    calls = {}
    for name, model in models.items():
        content = (tflite.convert_function(model, tflite.inference_function(
            model, bench_common.input_specs(model))) if name == "vit"
            else tflite.convert_model(model))
        runner = tflite.interpreter(content=content, num_threads=args.threads
                                    ).get_signature_runner()
        calls[name] = lambda r=runner: r(**x)
    ms = {k: round(v, 2) for k, v in bench_common.interleaved(calls, args.rounds).items()}
    full, without = ms[f"kernel_{preset['kernel_size']}"], ms["kernel_1"]
    bench_common.emit({
        "script": "scripts/bench_kernel_share.py", "threads": args.threads,
        "rounds": args.rounds, "machine": machine, "load_average_end": describe()["load_average"],
        "commit": bench_common.commit(), "ms": ms,
        "depthwise_share": round((full - without) / full, 3),
        "vit_over_preset": round(ms["vit"] / full, 3)}, args.out)


if __name__ == "__main__":
    main()
