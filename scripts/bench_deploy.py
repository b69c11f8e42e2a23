"""Deployment speed on this CPU: Minape against the paper's ViT (m), timed on the files
users deploy.

Models (the paper's Mudestreda inputs: tool photo 256x256x3 and force spectrogram image
256x256x9, 3 classes, untrained): the ``mudestreda`` preset (the paper's configuration),
the same with patch 12 (``mudestreda-fast``), the authors' official configuration, and the
paper's ViT (m) (:func:`minape_tf.models.baselines.vit.build_vit`, its defaults). Each is
saved as ``.keras`` in a temporary folder; what is timed comes from that file:

* ``keras``: the model :func:`minape_tf.load_model` returns from it, in a traced
  ``tf.function`` (Minape in its own depthwise form, ``auto``). ``minape bench models``
  (``scripts/bench_models.py``) times the same call on the same models (Minape at the
  ``mudestreda`` preset, ``auto``; the ViT at its defaults), built in memory, with
  TensorFlow's default threads as here. At batch 1 the two agree within a shared
  machine's noise (preset 54.5 and 42-48.5 ms, ViT 55.8 and 39-42 ms in runs minutes
  apart, Intel Xeon, AVX-512); at batch 32 this script's Keras ViT was slower (32.7 ms a
  sample against 18-19, and 21.7 timed alone in a fresh process), in a process that also
  holds some 40 LiteRT interpreters: read each script's ratios, not one's times in the
  other's;
* ``tflite_*``: the ``.tflite`` files in LiteRT (XNNPACK, ``--threads``). A Minape's
  float32, float16 and dynamic (int8 weights) files are written by ``minape export
  --format tflite`` (:func:`minape_tf.deploy.exporter.export`, depthwise ``tiles``, its
  default), ``tflite_float32_conv`` by the same with ``--depthwise conv`` (the non-tiled
  form). The exporter calibrates int8 (full integer) on a run folder's training data,
  which a ``.keras`` file lacks, so ``tflite_int8`` is converted here by the converter it
  calls (:func:`minape_tf.deploy.tflite.convert_model`, ``tiles``) on 4 random inputs:
  speed only. ``minape export`` takes Minape models only, so the ViT's four files are
  converted here by :func:`minape_tf.deploy.tflite.convert_function`.

Batch 1 and 32, interleaved rounds in one run (median ms), FLOPs per sample (TensorFlow's
profiler, on the ``conv`` form), GFLOP/s achieved, and each Minape time's ratio to the ViT
on the same path (``tflite_float32`` for ``tflite_float32_conv``; ``vit_over_minape`` > 1:
Minape is faster).

    python scripts/bench_deploy.py [--rounds 7] [--threads 2] [--out FILE] [--tiny]

Prints (and with ``--out`` writes) JSON: ``script``, ``threads``, ``rounds``, ``machine``
(:func:`minape_tf.evaluation.machine.describe` at the start: cpu, isa, cores,
load_average), ``load_average_end`` (at the end), ``commit`` (:func:`bench_common.commit`:
HEAD's sha and whether tracked files differ from it; None outside git) and ``rows``
(model, path, batch, ms, ms_per_sample, gflop_per_sample, gflop_s, vit_over_minape).
``--tiny`` runs tiny models of the same kinds through the same save, load and export
(a smoke test).
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import bench_common
import numpy as np
import tensorflow as tf

from minape_tf import build_minape, load_model, presets
from minape_tf.deploy import tflite
from minape_tf.deploy.exporter import export
from minape_tf.models.baselines.vit import build_vit
from minape_tf.evaluation.machine import describe

CONFIGS = {"mudestreda": dict(presets["mudestreda"]),
           "mudestreda-fast": {**presets["mudestreda"], "patch_size": 12},
           "official": dict(presets["mudestreda-official"])}
TINY_MINAPE = dict(width=8, depth=2, patch_size=4, kernel_size=13)
TINY_VIT = dict(patch_size=4, projection_dim=8, num_heads=2, transformer_layers=1,
                transformer_units=(16, 8), mlp_head_units=(16,))


def models(size):
    """``{name: keras model}``: the Minape configurations (their own depthwise form,
    ``auto``, as ``build_minape`` builds them) and the ViT."""
    groups = bench_common.groups(size)
    tiny = size < 64
    out = {name: build_minape(groups, 3, **(TINY_MINAPE if tiny else config),
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


def deployed(name, model, folder, calibration):
    """``(loaded, {path: .tflite file})``: ``model`` saved as ``folder/NAME.keras``, that file
    loaded back by :func:`minape_tf.load_model`, and its TFLite files: a Minape's written by
    ``minape export --format tflite`` (``tiles`` form; ``tflite_float32_conv`` with
    ``--depthwise conv``), its int8 and the ViT's written here by the same converter."""
    path = os.path.join(folder, f"{name}.keras")
    model.save(path)
    loaded = load_model(path)
    files = {}

    def write(key, content):
        files[key] = os.path.join(folder, f"{name}_{key}.tflite")
        with open(files[key], "wb") as f:
            f.write(content)

    if name == "vit":                   # not a Minape: `minape export` refuses it
        function = tflite.inference_function(loaded, bench_common.input_specs(loaded))
        for q in ("float32", "float16", "dynamic", "int8"):
            write(f"tflite_{q}", tflite.convert_function(loaded, function, q, calibration))
        return loaded, files
    for form, quantizations in (("tiles", ("float32", "float16", "dynamic")),
                                ("conv", ("float32",))):
        out = os.path.join(folder, f"{name}_{form}")
        described = export(path, out, formats="tflite", quantizations=quantizations,
                           depthwise=form, verbose=False)
        for q in quantizations:
            key = f"tflite_{q}" + ("_conv" if form == "conv" else "")
            files[key] = os.path.join(out, described["files"][f"tflite_{q}"]["path"])
    # the exporter calibrates int8 on a run folder's data, which a .keras file lacks
    write("tflite_int8", tflite.convert_model(loaded.with_arguments(depthwise="tiles"),
                                              "int8", calibration))
    return loaded, files


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
        for i in range(4):
            yield {k: v[i:i + 1] for k, v in inputs[32].items()}

    calls, flops = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name, model in built.items():
            flops[name] = flops_per_sample(model if name == "vit" else
                                           model.with_arguments(depthwise="conv"))
            loaded, files = deployed(name, model, folder, calibration)
            for b in (1, 32):                   # one function per shape: no retracing
                forward = tf.function(lambda x, m=loaded: m(x, training=False))
                calls[(name, "keras", b)] = lambda f=forward, b=b: f(inputs[b])[0].numpy()
            for path, file in files.items():
                runner = tflite.interpreter(file, num_threads=args.threads
                                            ).get_signature_runner()
                for b in (1, 32):
                    calls[(name, path, b)] = lambda r=runner, b=b: r(**inputs[b])
        times = bench_common.interleaved({k: fn for k, fn in calls.items() if k[2] == 1},
                                         rounds)
        times.update(bench_common.interleaved({k: fn for k, fn in calls.items()
                                               if k[2] == 32}, max(1, rounds // 2)))
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
