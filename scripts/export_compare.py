"""Compare a run's exported files with its Keras model on the run's test split: size,
accuracy, agreement with Keras' predictions, and batch-1 latency as a ratio to Keras'.

    python scripts/export_compare.py RUN EXPORT_DIR [--limit N] [--json OUT]

Prints JSON (every TFLite variant and the ONNX model of the export folder), with the machine. Latency is the median of single-observation calls on this machine (Keras:
one traced ``tf.function``; TFLite: the LiteRT interpreter with its default delegate),
measured in the same run, so compare the ratios.
"""

import argparse
import json
import os
import time

import numpy as np


def _median_ms(call, inputs, repeats=50):
    call(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main():
    import tensorflow as tf

    from minape_tf.data.registry import load_dataset
    from minape_tf.deploy.tflite import interpreter, run_model
    from minape_tf.evaluation.machine import describe
    from minape_tf.models.inputs import ModelInputs, model_dataset
    from minape_tf.models.saving import load_minape
    from minape_tf.outputs.export_folder import ExportFolder, model_keys
    from minape_tf.outputs.run_folder import RunFolder
    from minape_tf.training.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("export_dir")
    parser.add_argument("--limit", type=int, default=None, help="test observations to use")
    parser.add_argument("--json", help="also write the JSON there")
    args = parser.parse_args()
    model, _ = load_minape(args.run)
    run = RunFolder(args.run)
    config = TrainConfig.from_dict(run.read_config())
    files = ExportFolder(args.export_dir).read()["files"]
    loaded = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                          **config.dataset_options)
    index = loaded.splits["test"][:args.limit]
    test = loaded.source.subset(index, model.groups)
    x, y = next(iter(model_dataset(test, ModelInputs.of_model(model), batch_size=len(test))))
    x, y = {k: v.numpy() for k, v in x.items()}, y.numpy()
    one = {k: v[:1] for k, v in x.items()}
    forward = tf.function(lambda inputs: model(inputs, training=False))
    expected = np.asarray(forward(x)).argmax(-1)
    keras_ms = _median_ms(forward, one)
    rows = {"keras": {"bytes": os.path.getsize(run.model),
                      "accuracy": float(np.mean(expected == y)), "latency_ms_b1": keras_ms}}
    for key, entry in files.items():
        if key == "onnx":
            from minape_tf.deploy import onnx

            handle, run = onnx.session(os.path.join(args.export_dir, entry["path"])), onnx.run_model
        elif key in model_keys(files) and key.startswith("tflite_"):
            handle, run = interpreter(os.path.join(args.export_dir, entry["path"])), run_model
        else:
            continue
        predicted = np.concatenate([run(handle, {k: v[i:i + 64] for k, v in x.items()})
                                    for i in range(0, len(y), 64)]).argmax(-1)
        ms = _median_ms(lambda inputs: run(handle, inputs), one)
        rows[key] = {"bytes": entry["bytes"], "accuracy": float(np.mean(predicted == y)),
                     "agreement_with_keras": float(np.mean(predicted == expected)),
                     "latency_ms_b1": ms, "latency_ratio_to_keras": ms / keras_ms}
    machine = describe()
    text = json.dumps({"run": os.path.abspath(args.run), "machine": machine,
                       "n_test": int(len(y)), **rows}, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
