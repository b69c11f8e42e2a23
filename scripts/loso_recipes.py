"""Leave-one-speaker-out accuracy of training recipes on FSDD (issue 11's ablation table).

Each recipe is a set of changes to the ``TrainConfig`` (and its groups) of the row it builds
on; every recipe is trained and tested once per speaker (``minape cv --leave-one-group-out
--trials 1``), and its mean and worst speaker accuracy are printed as a JSON row, and as a
Markdown table at the end. The same seed and folds for every row, so rows differ only by
their changes. Each fold is also evaluated with its speaker's own batch-norm statistics
(``accuracy_adapted``, ``minape_tf.adaptation``). A row's finished folds are reused.

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
import time


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
    "defaults": (None, {}, "today's CLI defaults: preset fsdd, 30 epochs, device equalisation"),
    "no_equalize": ("defaults", {"groups": {"audio": {"equalize": False}}},
                    "the defaults without device equalisation (adapting: batch norms only)"),
    "eq": ("no_equalize", {"augmentation": {"eq_db": 20.0}},
           "+ random equalisation of the mel bands, 20 dB"),
    "speed": ("defaults", {"augmentation": {"stretch": 0.1, "warp": 0.1}},
              "defaults + speed 10 %, mel warp 10 %"),
}


def resolve(name):
    """The full changes of a row: its base's, then its own (dicts merged)."""
    from minape_tf.training.config import merge_settings

    base, changes, _ = ROWS[name]
    return merge_settings(resolve(base), changes) if base else dict(changes)


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
        changes = resolve(name)
        config = TrainConfig(dataset="fsdd", data_dir=args.data_dir, seed=args.seed,
                             verbose=0).updated(**changes)
        if "augmentation" in changes:          # None values (no noise) count here
            config.augmentation = changes["augmentation"]
        start, row_dir = time.time(), os.path.join(args.out, name)
        if args.test_groups:
            _some_folds(config, row_dir, loaded, args.test_groups)
        else:
            cross_validate(config, row_dir, trials=1, leave_one_group_out=True, loaded=loaded,
                           latency=False, log=lambda message: None)
        _fill_adapted(row_dir, loaded, args.seed)
        scores = _read_folds(row_dir, loaded, args.seed, args.test_groups)
        row = {"row": name, "seed": args.seed, "about": ROWS[name][2], "changes": changes,
               "seconds": round(time.time() - start, 1), **scores}
        rows.append(row)
        print(json.dumps(row), flush=True)
    names = [suffix.replace("_", " ") for suffix in SUFFIXES]
    print("\n| row | change | LOSO mean | worst | " + " | ".join(
        f"{n} mean | {n} worst" for n in names) + f" | per speaker ({', '.join(names)}) |\n"
        + "|---" * (5 + 2 * len(names)) + "|")
    for r in rows:
        numbers = " | ".join(f"{r.get(k, float('nan')):.3f}" for k in (
            "mean", "worst", *(f"{s}_{w}" for s in SUFFIXES for w in ("mean", "worst"))))
        per = ", ".join(f"{k} {v:.3f} (" + ", ".join(
            f"{r.get(f'{p}_per_group', {}).get(k, float('nan')):.3f}"
            for p in SUFFIXES) + ")" for k, v in r["per_group"].items())
        print(f"| {r['row']} | {r['about']} | {numbers} | {per} |")
    if args.json:   # {"machine", "command", "protocol", "rows"}: the rows are appended
        saved = json.load(open(args.json)) if os.path.exists(args.json) else {"rows": []}
        saved["rows"] += rows
        json.dump(saved, open(args.json, "w"), indent=1)


def _some_folds(config, out_dir, loaded, test_groups):
    """Train the folds of ``test_groups`` only, split and seeded as ``cross_validate`` does
    (trial 0), in ``out_dir/base/trial0/fold<k>`` as there (so a full row reuses them)."""
    import numpy as np

    from minape_tf.data.source import Loaded
    from minape_tf.protocol.train_evaluate import train_and_evaluate

    seed, folds = _folds(loaded.source, config.seed)
    for k, fold in enumerate(folds):
        run = _fold_dir(out_dir, k)
        if fold["group"] in test_groups and not os.path.exists(_metrics(run)):
            sides = {side: np.asarray(fold[side]) for side in ("train", "val", "test")}
            train_and_evaluate(config.updated(seed=seed), run, latency=False,
                               loaded=Loaded(loaded.source, loaded.groups, sides),
                               log=lambda message: None)


def _read_folds(out_dir, loaded, seed, test_groups=None):
    """The summary (:func:`_summary`) of the row's finished folds (of ``test_groups``)."""
    folds = _folds(loaded.source, seed)[1]
    runs = [{"group": fold["group"], **json.load(open(_metrics(_fold_dir(out_dir, k))))}
            for k, fold in enumerate(folds)
            if (not test_groups or fold["group"] in test_groups)
            and os.path.exists(_metrics(_fold_dir(out_dir, k)))]
    return {**_summary(runs), "partial": len(runs) < len(folds)}


def _fold_dir(out_dir, k):
    return os.path.join(out_dir, "base", "trial0", f"fold{k}")


def _metrics(run):
    return os.path.join(run, "metrics.json")


def _folds(source, seed):
    """``(trial seed, folds)`` of trial 0 of ``minape cv --leave-one-group-out``."""
    from minape_tf.protocol.folds import leave_one_group_out, trial_seeds

    trial_seed = trial_seeds(seed, 1)[0]
    return trial_seed, leave_one_group_out(source.labels, source.split_keys, seed=trial_seed)


# The adapted accuracies of a fold: metrics key -> self-training (False: statistics only;
# "balanced": the targets balanced over the classes, as every speaker says every digit).
ADAPTATIONS = {"accuracy_adapted": False, "accuracy_self_trained": True,
               "accuracy_self_trained_balanced": "balanced"}
SUFFIXES = [key[len("accuracy_"):] for key in ADAPTATIONS]


def _fill_adapted(out_dir, loaded, seed):
    """Add ``accuracy_adapted``, ``accuracy_self_trained`` and
    ``accuracy_self_trained_balanced`` to the ``metrics.json`` of folds evaluated without
    them (``minape_tf.adaptation``): their test speaker's own statistics (batch norms,
    and equalisation where the model has it), and the model self-trained on that speaker,
    from its recordings without labels (plain, and with balanced targets)."""
    import numpy as np

    from minape_tf.adaptation.per_group import adapted_probabilities
    from minape_tf.evaluation.evaluate import predict_probabilities
    from minape_tf.models.saving import load_minape
    from minape_tf.deploy.predictor import KerasPredictor

    source = loaded.source
    for k, fold in enumerate(_folds(source, seed)[1]):
        run = _fold_dir(out_dir, k)
        path = _metrics(run)
        if not os.path.exists(path):
            continue
        metrics = json.load(open(path))
        missing = [key for key in ADAPTATIONS if key not in metrics]
        if not missing:
            continue
        predictor = KerasPredictor(load_minape(run)[0])
        test = source.subset(fold["test"], predictor.groups)
        for key in missing:
            adapted = adapted_probabilities(predictor.model, test,
                                            lambda subset: predictor.data(subset, 32),
                                            predict_probabilities,
                                            self_training=ADAPTATIONS[key])
            metrics[key] = float(np.mean(adapted.argmax(1) == test.labels))
        json.dump(metrics, open(path, "w"), indent=2)


def _summary(runs):
    """Mean, worst and per-speaker accuracy, plain and adapted in each way of
    ``ADAPTATIONS``, where measured."""
    out = {}
    for key, name in (("accuracy", ""),
                      *((f"accuracy_{suffix}", f"{suffix}_") for suffix in SUFFIXES)):
        per = {r["group"]: r[key] for r in runs if r.get(key) is not None}
        if per:
            out.update({f"{name}mean": sum(per.values()) / len(per),
                        f"{name}worst": min(per.values()), f"{name}per_group": per})
    return out


if __name__ == "__main__":
    main()
