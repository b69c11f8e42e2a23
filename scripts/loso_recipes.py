"""Leave-one-speaker-out accuracy of training recipes on FSDD (issue 11's ablation table).

Each recipe is a set of changes to the ``TrainConfig`` (and its groups) of the row it builds
on; every recipe is trained and tested once per speaker (``minape cv --leave-one-group-out
--trials 1``), and its mean and worst speaker accuracy are printed as a JSON row, and as a
Markdown table at the end. The same seed and folds for every row, so rows differ only by
their changes. Each fold is also evaluated with its speaker's own batch-norm statistics
(``accuracy_adapted``, ``minape_tf.evaluation.adapt``). A row's finished folds are reused.

    python scripts/loso_recipes.py --data-dir ../shared/data/fsdd --out runs/loso \\
        --rows defaults small mean_var ... [--json scripts/results/loso_fsdd.json]
    python scripts/loso_recipes.py ... --test-groups george jackson   # a quick look

The rows are listed in ``ROWS`` below (name -> (base row, changes, what it is)); a 5-fold
row takes 10-25 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The settings before issue 11, written out (today's defaults differ): no preset (width 256,
# depth 8, patch 8, kernel 9), no spectral normalisation, gain and SpecAugment only.
FORMER = {"preset": "none", "groups": {"audio": {"spectral_norm": None}},
          "augmentation": {"stretch": 0.0, "warp": 0.0, "shift": 0.0, "noise_snr_db": None}}
SPEECH = {"stretch": 0.15, "warp": 0.1, "shift": 0.2, "noise_snr_db": [10, 40]}

# name: (row it builds on, TrainConfig changes, description)
ROWS = {
    "former": (None, FORMER, "the former CLI defaults (0.73M parameters, 30 epochs)"),
    "small": ("former", {"preset": "fsdd", "epochs": 15},
              "preset fsdd (width 64, depth 6, patch 4: 62K), 15 epochs: the search base"),
    "mean_var": ("small", {"groups": {"audio": {"spectral_norm": "mean_var"}}},
                 "+ per-recording log-Mel mean/variance"),
    "band": ("small", {"groups": {"audio": {"spectral_norm": "band"}}},
             "+ per-band log-Mel mean/variance"),
    "pcen": ("small", {"groups": {"audio": {"spectral_norm": "pcen"}}}, "+ PCEN"),
    "aug": ("small", {"augmentation": SPEECH},
            "+ speed 15%, mel warp 10%, shift 20%, noise 10-40 dB"),
    "band_aug": ("band", {"augmentation": SPEECH}, "per-band normalisation + that augmentation"),
    "pcen_aug": ("band_aug", {"groups": {"audio": {"spectral_norm": "pcen"}}},
                 "band_aug with PCEN instead of per-band normalisation"),
    "band_aug_30": ("band_aug", {"epochs": 30}, "band_aug, 30 epochs"),
    "defaults": (None, {}, "today's CLI defaults: preset fsdd, 30 epochs"),
}


def resolve(name):
    """The full changes of a row: its base's, then its own (dicts merged)."""
    from minape_tf.training.config import _merge

    base, changes, _ = ROWS[name]
    return _merge(resolve(base), changes) if base else dict(changes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="../shared/data/fsdd")
    p.add_argument("--out", default="runs/loso")
    p.add_argument("--rows", nargs="+", default=list(ROWS))
    p.add_argument("--set", nargs="*", default=[], metavar="ROW:KEY=VALUE",
                   help="extra rows: NAME=BASE then changes as JSON, e.g. "
                        "'both={\"base\": \"small\", \"epochs\": 20}'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speakers", nargs="*", default=None,
                   help="only these speakers' recordings (fewer folds and fewer training "
                        "speakers; default all)")
    p.add_argument("--test-groups", nargs="*", default=None,
                   help="a quick look: only these speakers' folds (same seed and splits as "
                        "the full rows); the row's mean and worst are over them only")
    p.add_argument("--json", help="append the rows to this JSON file")
    args = p.parse_args(argv)
    for spec in args.set:
        name, text = spec.split("=", 1)
        changes = json.loads(text)
        ROWS[name] = (changes.pop("base"), changes, changes.pop("about", text))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from minape_tf.data.registry import load_dataset
    from minape_tf.protocol.cv import cross_validate
    from minape_tf.training.config import TrainConfig

    loaded = load_dataset("fsdd", args.data_dir, seed=args.seed)
    if args.speakers:
        keep = [i for i, s in enumerate(loaded.source.split_keys) if s in args.speakers]
        loaded = type(loaded)(loaded.source.subset(keep), loaded.groups,
                              {"train": list(range(len(keep))), "val": [], "test": []})
    rows = []
    for name in args.rows:
        _fill_adapted(os.path.join(args.out, name), loaded, args.seed)
        changes = resolve(name)
        config = TrainConfig(dataset="fsdd", data_dir=args.data_dir, seed=args.seed,
                             verbose=0).updated(**changes)
        if "augmentation" in changes:          # None values (no noise) count here
            config.augmentation = changes["augmentation"]
        start = time.time()
        if args.test_groups:
            scores = _some_folds(config, os.path.join(args.out, name), loaded,
                                 args.test_groups)
        else:
            scores = _scores(cross_validate(config, os.path.join(args.out, name), trials=1,
                                            leave_one_group_out=True, loaded=loaded,
                                            latency=False, log=lambda message: None))
        row = {"row": name, "seed": args.seed, "about": ROWS[name][2], "changes": changes,
               "seconds": round(time.time() - start, 1), **scores}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| row | change | LOSO mean | worst speaker | adapted mean | adapted worst | "
          "per speaker (adapted) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        adapted = r.get("adapted_per_group", {})
        per = ", ".join(f"{k} {v:.3f}" + (f" ({adapted[k]:.3f})" if k in adapted else "")
                        for k, v in r["per_group"].items())
        print(f"| {r['row']} | {r['about']} | {r['mean']:.3f} | {r['worst']:.3f} | "
              f"{r.get('adapted_mean', float('nan')):.3f} | "
              f"{r.get('adapted_worst', float('nan')):.3f} | {per} |")
    if args.json:   # {"machine", "command", "protocol", "rows"}: the rows are appended
        saved = json.load(open(args.json)) if os.path.exists(args.json) else {"rows": []}
        saved["rows"] += rows
        json.dump(saved, open(args.json, "w"), indent=1)


def _some_folds(config, out_dir, loaded, test_groups):
    """The folds of ``test_groups`` only, split and seeded as ``cross_validate`` does
    (trial 0), in ``out_dir/base/trial0/fold<k>`` as there (so a full row reuses them)."""
    import numpy as np

    from minape_tf.data.source import Loaded
    from minape_tf.protocol.run import train_and_evaluate

    source = loaded.source
    seed, folds = _folds(source, config.seed)
    runs = []
    for k, fold in enumerate(folds):
        if fold["group"] not in test_groups:
            continue
        run = os.path.join(out_dir, "base", "trial0", f"fold{k}")
        metrics_path = os.path.join(run, "metrics.json")
        if os.path.exists(metrics_path):
            metrics = json.load(open(metrics_path))
        else:
            sides = {side: np.asarray(fold[side]) for side in ("train", "val", "test")}
            metrics = train_and_evaluate(config.updated(seed=seed), run, latency=False,
                                         loaded=Loaded(source, loaded.groups, sides),
                                         log=lambda message: None).metrics
        runs.append({"group": fold["group"], **metrics})
    return {**_summary(runs), "partial": len(runs) < len(folds)}


def _folds(source, seed):
    """``(trial seed, folds)`` of trial 0 of ``minape cv --leave-one-group-out``."""
    from minape_tf.protocol.folds import leave_one_group_out, trial_seeds

    trial_seed = trial_seeds(seed, 1)[0]
    return trial_seed, leave_one_group_out(source.labels, source.split_keys, seed=trial_seed)


def _fill_adapted(out_dir, loaded, seed):
    """Add ``accuracy_adapted`` to the ``metrics.json`` of folds evaluated before it was
    measured (``minape_tf.evaluation.adapt``): their test speaker's own batch-norm
    statistics, from its recordings without labels."""
    import numpy as np

    from minape_tf.evaluation.adapt import adapted_probabilities
    from minape_tf.evaluation.evaluate import predict_probabilities
    from minape_tf.export.load import load_minape
    from minape_tf.export.predictor import KerasPredictor

    source = loaded.source
    for k, fold in enumerate(_folds(source, seed)[1]):
        run = os.path.join(out_dir, "base", "trial0", f"fold{k}")
        path = os.path.join(run, "metrics.json")
        if not os.path.exists(path):
            continue
        metrics = json.load(open(path))
        if "accuracy_adapted" in metrics:
            continue
        predictor = KerasPredictor(load_minape(run)[0])
        test = source.subset(fold["test"], predictor.groups)
        adapted = adapted_probabilities(predictor.model, test,
                                        lambda subset: predictor.data(subset, 32),
                                        predict_probabilities)
        metrics["accuracy_adapted"] = float(np.mean(adapted.argmax(1) == test.labels))
        json.dump(metrics, open(path, "w"), indent=2)


def _scores(result):
    """Mean, worst and per-speaker accuracy of a ``cross_validate`` result."""
    return _summary(result["variants"][0]["runs"])


def _summary(runs):
    """Mean, worst and per-speaker accuracy, plain and with each speaker's own batch-norm
    statistics (``accuracy_adapted``, where the evaluation measured it)."""
    out = {}
    for key, name in (("accuracy", ""), ("accuracy_adapted", "adapted_")):
        per = {r["group"]: r[key] for r in runs if r.get(key) is not None}
        if per:
            out.update({f"{name}mean": sum(per.values()) / len(per),
                        f"{name}worst": min(per.values()), f"{name}per_group": per})
    return out


if __name__ == "__main__":
    main()
