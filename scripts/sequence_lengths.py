"""Does a device's history help? Test accuracy on the demo for L = 1, 4, 8 x prime learners.

For every seed, the demo data set (``minape_tf.data.loaders.demo``, tools that wear along a
trajectory, split by tool) is made with that seed, and one small Minape per (L, learner) is
trained with that seed on its ``model_dataset`` (histories of ``L`` observations) (short histories padded)
and evaluated on the test tools' windows: every test observation, labelled by the last one
of its window. Same data, splits, initial seed and step count for every cell; only L and the
learner change. Prints JSON with the per-seed accuracies and a Markdown table of the means.

    python scripts/sequence_lengths.py [--seeds 0 1] [--lengths 1 4 8] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from minape_tf.evaluation.machine import describe

SMALL = dict(width=16, depth=1, patch_size=4, kernel_size=3)


def run(seed, length, learner, epochs, image_size):
    import keras

    from minape_tf import build_minape
    from minape_tf.data import demo
    from minape_tf.models.inputs import ModelInputs, model_dataset

    keras.utils.set_random_seed(seed)
    source, groups, splits = demo(seed, image_size=image_size)
    model = build_minape(groups, len(source.classes), learner=learner, sequence_length=length,
                         **SMALL)
    inputs = ModelInputs.of_model(model)
    train = model_dataset(source.subset(splits["train"]), inputs, training=True, batch_size=16,
                          cache=True, augment=False, seed=seed)
    test = model_dataset(source.subset(splits["test"]), inputs, batch_size=64, cache=True)
    model.compile(keras.optimizers.AdamW(3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, epochs=epochs, verbose=0)
    return model.evaluate(test, verbose=0, return_dict=True)["accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--learners", nargs="+", default=["tempmixer", "gru", "lstm"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    results, start = {}, time.perf_counter()
    for learner in args.learners:
        for length in args.lengths:
            results[f"{learner} L={length}"] = [
                round(run(seed, length, learner, args.epochs, args.image_size), 4)
                for seed in args.seeds]
            print(learner, length, results[f"{learner} L={length}"], file=sys.stderr)
    table = ["| learner | " + " | ".join(f"L = {n}" for n in args.lengths) + " |",
             "|---|" + "---|" * len(args.lengths)]
    for learner in args.learners:
        cells = [f"{100 * np.mean(results[f'{learner} L={n}']):.1f}" for n in args.lengths]
        table.append(f"| {learner} | " + " | ".join(cells) + " |")
    print(json.dumps({"machine": describe(),
                      "settings": {**SMALL, "epochs": args.epochs, "batch_size": 16,
                                   "image_size": args.image_size, "seeds": args.seeds},
                      "accuracy": results, "seconds": round(time.perf_counter() - start),
                      "table": "\n".join(table)}, indent=1))


if __name__ == "__main__":
    main()
