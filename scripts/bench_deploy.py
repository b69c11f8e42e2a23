"""Deployment speed on this CPU: Minape against the paper's ViT (m), where users run them.

Models (the paper's Mudestreda inputs: tool photo 256x256x3 and force spectrogram image
256x256x9, 3 classes): the ``mudestreda`` preset (the paper's configuration), the same
with patch 12 (``mudestreda-fast``), the authors' official configuration, and the paper's
ViT (m) (:func:`minape_tf.models.baselines.vit.build_vit`, its defaults). Paths:

* Keras: a traced ``tf.function``, the model's own depthwise form (``auto``);
* TFLite from ``minape export``'s converter (LiteRT, XNNPACK, ``--threads``): float32 with
  the depthwise convolutions in the ``tiles`` form (what the export writes) and in the
  ``conv`` form (what it wrote before), float16, dynamic (int8 weights) and int8 (full
  integer, calibrated on random inputs: speed only).

Batch 1 and 32, interleaved rounds in one run (median ms), FLOPs per sample (TensorFlow's
profiler, on the ``conv`` form), GFLOP/s achieved, and each Minape time's ratio to the ViT
on the same path (``vit_over_minape`` > 1: Minape is faster).

    python scripts/bench_deploy.py [--rounds 7] [--threads 2] [--out FILE] [--tiny]

Prints JSON naming the machine (its load average at the start, ``load_average_end`` at the
end) and the commit measured; ``--tiny`` runs tiny shapes (a smoke test).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bench_common
import numpy as np
import tensorflow as tf

from minape_tf import build_minape, presets
from minape_tf.models.baselines.vit import build_vit
from minape_tf.deploy import tflite
from minape_tf.evaluation.machine import describe

CONFIGS = {"mudestreda": dict(presets["mudestreda"]),
           "mudestreda-fast": {**presets["mudestreda"], "patch_size": 12},
           "official": dict(presets["mudestreda-official"])}
TINY_MINAPE = dict(width=8, depth=2, patch_size=4, kernel_size=13)
TINY_VIT = dict(patch_size=4, projection_dim=8, num_heads=2, transformer_layers=1,
                transformer_units=(16, 8), mlp_head_units=(16,))


def models(size):
    """``{name: keras model}``: the Minape configurations (``conv`` form) and the ViT."""
    groups = bench_common.groups(size)
    tiny = size < 64
    out = {name: build_minape(groups, 3, **(TINY_MINAPE if tiny else config), depthwise="conv",
                              name=name.replace("-", "_"))
           for name, config in CONFIGS.items()}
    out["vit"] = build_vit(groups, 3, **(TINY_VIT if tiny else {}))
    return out


def flops_per_sample(model) -> int:
    """Floating-point operations of one sample (TensorFlow's profiler on the frozen graph)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph)

    specs = {i.name: tf.TensorSpec([1, *i.shape[1:]], tf.float32) for i in model.inputs}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    _, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        return int(tf.compat.v1.profiler.profile(graph=graph, cmd="op",
                                                 options=options).total_float_ops)


def lite_variants(name, model, calibration):
    """``{path: .tflite bytes}`` of one model as ``minape export`` converts it."""
    def convert(m, q="float32"):
        return tflite.convert_function(m, tflite.inference_function(m, _specs(m)), q,
                                       calibration if q == "int8" else None)

    out = {}
    if name == "vit":
        for q in ("float32", "float16", "dynamic", "int8"):
            out[f"tflite_{q}"] = convert(model, q)
        return out
    tiles = model.with_arguments(depthwise="tiles")
    out["tflite_float32"] = convert(tiles)
    out["tflite_float32_conv"] = convert(model)
    for q in ("float16", "dynamic", "int8"):
        out[f"tflite_{q}"] = convert(tiles, q)
    return out


def _specs(model):
    return {i.name: tf.TensorSpec([None, *i.shape[1:]], tf.float32, name=i.name)
            for i in model.inputs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    size, rounds = (32, 1) if args.tiny else (256, args.rounds)
    machine = describe()                       # its load average: at the start
    rng = np.random.default_rng(0)
    built = models(size)
    inputs = {b: {i.name: rng.uniform(0, 1, (b, *i.shape[1:])).astype("float32")
                  for i in built["vit"].inputs} for b in (1, 32)}

    def calibration():
        for _ in range(4):
            yield {k: v[:1] for k, v in inputs[32].items()}

    calls, flops = {}, {}
    for name, model in built.items():
        flops[name] = flops_per_sample(model)
        forward = tf.function(lambda x, m=model: m(x, training=False))
        for b in (1, 32):
            calls[(name, "keras", b)] = lambda f=forward, b=b: f(inputs[b])[0].numpy()
        for path, content in lite_variants(name, model, calibration).items():
            runner = tflite.interpreter(content=content,
                                        num_threads=args.threads).get_signature_runner()
            for b in (1, 32):
                calls[(name, path, b)] = lambda r=runner, b=b: r(**inputs[b])
    times = bench_common.interleaved({key: fn for key, fn in calls.items() if key[2] == 1},
                                     rounds)
    times.update(bench_common.interleaved({key: fn for key, fn in calls.items()
                                           if key[2] == 32}, max(1, rounds // 2)))
    rows = []
    for (name, path, b), ms in times.items():
        vit = times.get(("vit", path if path != "tflite_float32_conv" else "tflite_float32", b))
        rows.append({"model": name, "path": path, "batch": b, "ms": round(ms, 3),
                     "ms_per_sample": round(ms / b, 3), "gflop_per_sample": flops[name] / 1e9,
                     "gflop_s": round(flops[name] * b / ms / 1e6, 2),
                     "vit_over_minape": None if name == "vit" or vit is None else
                     round(vit / ms, 3)})
    bench_common.emit({"script": "scripts/bench_deploy.py", "threads": args.threads,
                       "machine": machine, "load_average_end": describe()["load_average"],
                       "commit": bench_common.commit(),
                       "rounds": rounds, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
