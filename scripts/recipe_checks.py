"""The FSDD recipe on the other shared data: AV-digits' modalities, the demo, Mudestreda.

Issue 11 asks that the recipe chosen on FSDD (a) makes AV-digits' fusion beat each modality
alone on an unseen speaker and (b) does not break image + spectrogram data. With the CLI
defaults (``TrainConfig(dataset=...)``), this trains and tests (each evaluation also reports
the accuracy with each test device's own batch-norm statistics, ``accuracy_adapted``):

* ``avdigits``: speaker theo held out (the loader's split), once with the audio pathway
  alone, once with the digit images alone, once with both;
* ``demo``: the demo data set (tools split) with its defaults;
* ``mudestreda``: the 9-observation sample (``--mudestreda-dir``), as a smoke test only:
  three test observations measure nothing.

Prints one JSON row per run and a Markdown table.

    python scripts/recipe_checks.py --fsdd-dir ../shared/data/fsdd \\
        --mudestreda-dir ../shared/data/mudestreda-sample --out runs/checks
"""

from __future__ import annotations

import argparse
import json
import os
import time


def runs(args):
    """(name, TrainConfig changes) of every run."""
    out = []
    if args.fsdd_dir:
        for modalities in ("audio", "digit", "all"):
            out.append((f"avdigits-{modalities}", {"dataset": "avdigits",
                                                   "data_dir": args.fsdd_dir,
                                                   "modalities": modalities}))
    out.append(("demo", {"dataset": "demo"}))
    if args.mudestreda_dir:
        out.append(("mudestreda-sample", {"dataset": "mudestreda",
                                          "data_dir": args.mudestreda_dir,
                                          "batch_size": 3, "epochs": 3}))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fsdd-dir", default=None)
    p.add_argument("--mudestreda-dir", default=None)
    p.add_argument("--out", default="runs/checks")
    p.add_argument("--only", nargs="*", default=None, help="run only these names")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from minape_tf.protocol.train_evaluate import train_and_evaluate
    from minape_tf.training.config import TrainConfig

    rows = []
    for name, changes in runs(args):
        if args.only and name not in args.only:
            continue
        config = TrainConfig(seed=args.seed, verbose=0).updated(**changes)
        start = time.time()
        result = train_and_evaluate(config, os.path.join(args.out, name), latency=False,
                                    overwrite=True, log=lambda message: None)
        m = result.metrics
        row = {"run": name, "accuracy": m["accuracy"],
               "accuracy_adapted": m.get("accuracy_adapted"), "auc_macro": m.get("auc_macro"),
               "n_test": m.get("n_test"), "params": m.get("params"),
               "seconds": round(time.time() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| run | test accuracy | adapted | AUC | test observations |\n|---|---|---|---|---|")
    for r in rows:
        auc = "-" if r["auc_macro"] is None else f"{r['auc_macro']:.3f}"
        adapted = "-" if r["accuracy_adapted"] is None else f"{r['accuracy_adapted']:.3f}"
        print(f"| {r['run']} | {r['accuracy']:.3f} | {adapted} | {auc} | {r['n_test']} |")


if __name__ == "__main__":
    main()
