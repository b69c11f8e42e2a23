"""``minape bench models``: Minape against the paper's baselines, in one run on one machine.

For every model: parameters, ``.keras`` size (MB), CPU latency in ms per sample at batch 1
and batch 32 (interleaved rounds: every model is timed once per round, in a rotated order,
and the median over the rounds is kept, so that a machine shared with other jobs slows
all models alike), and the latency ratio to Minape. Printed as a Markdown table in the
format of the paper's Table 3; ``--json PATH`` writes the rows.

Without ``--dataset`` the models are built as in Table 3: Mudestreda's inputs as the
paper's code reads them (the tool photo 256x256x3 and the three force spectrogram images
stacked to 256x256x9, the time-series modality), 3 classes, Minape at the ``mudestreda``
preset and every baseline at its defaults (the paper's configuration, see each builder);
TCN reads the raw forces (3 x 150,000 samples at 10 kHz). With ``--dataset NAME
--data-dir DIR`` they are built for that data set's groups and trained: cross-validated
(``--trials`` x ``--folds``, the paper's protocol) or, with ``--split``, once on the data
set's own train / validation / test split; the table then has AUC and accuracy. A model
that cannot read the data (TCN without raw series, EfficientNetV2-M without photos) gets a
row that says why.

    python scripts/bench_models.py [--models minape,vit,...] [--rounds 5] [--json PATH]
    python scripts/bench_models.py --dataset fsdd --data-dir ../shared/data/fsdd \\
        -D split=speaker -D "test_speakers=[theo]" -D "val_speakers=[theo]" --split \\
        --epochs 10 --set minape.width=64 --out runs/bench
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from minape_tf.arguments import key_value
from minape_tf.data.loaders.mudestreda import FORCE_LENGTH, FORCE_RATE
from minape_tf.data.registry import load_dataset, modality_code
from minape_tf.evaluation.evaluate import model_facts as facts_of
from minape_tf.evaluation.latency import example_batch
from minape_tf.evaluation.machine import label
from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.models.presets import presets
from minape_tf.models.registry import BUILDERS, build_model, groups_read_by
from minape_tf.protocol.cv import cross_validate
from minape_tf.protocol.tables import markdown, number, param_count, plus_minus, summarise
from minape_tf.protocol.train_evaluate import train_and_evaluate
from minape_tf.training.config import TrainConfig

#: Mudestreda as the paper's Table 3 read it: the photo and the spectrogram images.
PAPER_GROUPS = [ImageGroup("tool", channels=3, size=(256, 256)),
                ImageGroup("spec", channels=9, size=(256, 256), modality="series")]
#: Mudestreda's raw forces, for the models that read raw series (TCN).
FORCE_GROUPS = [SeriesGroup("force", channels=3, sample_rate=FORCE_RATE, length=FORCE_LENGTH,
                            n_fft=1024, hop=512, n_mels=64)]
FUSION_LABELS = {"vit": "Concat", "sl-vit": "Concat", "mulmix": "Multiplicative",
                 "embracenet": "Embracement", "tcn": "Concat", "efficientnetv2-m": "Concat"}
COLUMNS = ("Model", "Modality", "Fusion-Type", "ms/img", "ms/img b32", "× Minape (b1)",
           "× Minape (b32)", "Size(MB)", "#Params", "AUC", "Accuracy")


def model_kwargs(name, overrides, minape_preset="mudestreda") -> dict:
    """The builder's arguments of ``name``: for Minape the preset ``minape_preset`` (None:
    ``build_minape``'s defaults), for a baseline its builder's defaults (the paper's
    configuration); then ``overrides[name]``."""

    kwargs = dict(presets[minape_preset]) if name == "minape" and minape_preset else {}
    kwargs.update(overrides.get(name, {}))
    return kwargs


def paper_groups(name):
    """The groups Table 3's comparison builds ``name`` for."""
    return FORCE_GROUPS if BUILDERS[name].reads == "raw series" else PAPER_GROUPS


def fusion_label(name, groups, kwargs):
    if len(groups) == 1:
        return "-"
    if name == "minape":
        return kwargs.get("fusion", "concat").capitalize()
    return FUSION_LABELS[name]


def model_facts(models, out_dir) -> dict:
    """``name -> {"params", "size_mb"}``, each model saved as ``.keras`` in ``out_dir``."""

    facts = {}
    for name, model in models.items():
        path = os.path.join(out_dir, f"{name}.keras")
        model.save(path)
        facts[name] = facts_of(model, path, latency=False)
        os.remove(path)
    return facts


def interleaved_latency(models, batch_sizes=(1, 32), rounds=5, warmup=2, log=print) -> dict:
    """``(name, batch_size) -> ms per sample``: the median over ``rounds`` of one compiled
    forward pass on the CPU, every model and batch size timed once per round, the order
    of the models rotated from round to round."""

    tf.get_logger().setLevel("ERROR")   # one tf.function per model and shape is intended
    times = {(name, b): [] for name in models for b in batch_sizes}
    with tf.device("/CPU:0"):
        calls = {}
        for name, model in models.items():
            for b in batch_sizes:             # one function per shape: no retracing
                forward = tf.function(lambda x, m=model: m(x, training=False))
                x = example_batch(model, b)
                for _ in range(warmup):
                    forward(x).numpy()
                calls[name, b] = (forward, x)
        names = list(models)
        for r in range(rounds):
            start = time.perf_counter()
            for name in names[r % len(names):] + names[:r % len(names)]:
                for b in batch_sizes:
                    forward, x = calls[name, b]
                    t0 = time.perf_counter()
                    forward(x).numpy()
                    times[name, b].append(time.perf_counter() - t0)
            log(f"latency round {r + 1}/{rounds}: {time.perf_counter() - start:.1f} s")
    return {key: float(np.median(t) * 1000 / key[1]) for key, t in times.items()}


def train_and_score(name, kwargs, loaded, args, out_dir, log=print) -> dict:
    """Accuracy and AUC of model ``name`` on ``loaded``: the mean and std over the
    cross-validation runs, or one run on the data set's own split (``args.split``)."""

    groups = groups_read_by(name, loaded.groups)
    config = TrainConfig(dataset=args.dataset, data_dir=args.data_dir,
                         dataset_options=dict(args.dataset_option), epochs=args.epochs,
                         batch_size=args.batch_size, seed=args.seed, architecture=name,
                         model=dict(kwargs), modalities=[g.name for g in groups],
                         precision="float32", verbose=args.verbose)
    if args.split:
        result = train_and_evaluate(config, os.path.join(out_dir, name), latency=False,
                                    loaded=loaded, overwrite=True, log=log)
        return {**summarise([result.metrics]), "wall_s": result.wall_s}
    started = time.time()
    result = cross_validate(config, os.path.join(out_dir, name), trials=args.trials,
                            folds=args.folds, grouped=args.grouped, loaded=loaded,
                            latency=False, overwrite=True, log=log)
    return {**result["variants"][0]["summary"], "wall_s": time.time() - started}


def table_rows(rows) -> list:
    """The Markdown table's cells of the result ``rows``."""

    cells = []
    for r in rows:
        ratio = lambda key: (f"{r[key]:.2f}" if r.get(key) is not None else "n/a")  # noqa: E731
        cells.append({
            "Model": r["label"], "Modality": r.get("modality", "-"),
            "Fusion-Type": r.get("fusion", "-"),
            "ms/img": number(r.get("latency_ms_b1", float("nan")), 2),
            "ms/img b32": number(r.get("latency_ms_b32", float("nan")), 2),
            "× Minape (b1)": ratio("latency_ratio_b1"),
            "× Minape (b32)": ratio("latency_ratio_b32"),
            "Size(MB)": number(r.get("size_mb", float("nan")), 1),
            "#Params": param_count(r.get("params", float("nan"))),
            "AUC": number(r.get("auc_macro_mean", float("nan")), 3),
            "Accuracy": (plus_minus(r["accuracy_mean"], r.get("accuracy_std", 0.0),
                                    n=r.get("n_runs"))
                         if "accuracy_mean" in r else r.get("skipped", "n/a")),
        })
    return cells


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="minape bench models",
        description="Minape against the paper's baselines: parameters, size, CPU latency "
                    "(and with --dataset accuracy and AUC), as Table 3 of the paper")
    parser.add_argument("--models", default=",".join(BUILDERS),
                        help=f"comma-separated, from {', '.join(BUILDERS)} (default all)")
    parser.add_argument("--set", action="append", type=key_value, default=[],
                        metavar="MODEL.ARG=VALUE",
                        help="a builder argument, e.g. vit.patch_size=8 minape.width=64")
    parser.add_argument("--minape-preset", default="mudestreda",
                        help="Minape's preset ('none': build_minape's defaults; default "
                             "mudestreda, Table 3's Minape (m))")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved latency rounds (default 5; 0: no latency)")
    parser.add_argument("--json", help="write the rows as a JSON list here")
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--machine", default=None,
                        help="how to name the machine in the rows (default: from platform)")
    parser.add_argument("--dataset", help="also train and score on this data set")
    parser.add_argument("--data-dir")
    parser.add_argument("--dataset-option", "-D", action="append", type=key_value,
                        default=[], metavar="KEY=VALUE")
    parser.add_argument("--split", action="store_true",
                        help="train once on the data set's own split instead of the "
                             "cross-validation")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--grouped", action="store_true", help="group-aware folds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench-models", help="run folders (with --dataset)")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(BUILDERS))
    if unknown:
        parser.error(f"--models: {unknown} not known; expected names from {sorted(BUILDERS)}")
    if "minape" not in args.models:
        args.models.insert(0, "minape")            # the reference of the ratios
    overrides = {}
    for key, value in args.set:
        model, _, argument = key.partition(".")
        if model not in BUILDERS or not argument:
            parser.error(f"--set {key}={value}: expected MODEL.ARGUMENT=VALUE with MODEL in "
                         f"{sorted(BUILDERS)}")
        overrides.setdefault(model, {})[argument] = value
    args.overrides = overrides
    args.verbose = 0 if args.quiet else "auto"
    if args.minape_preset in ("none", ""):
        args.minape_preset = None
    elif args.minape_preset not in presets:
        parser.error(f"--minape-preset {args.minape_preset!r}: expected 'none' or one of "
                     f"{sorted(presets)}")
    return args


def run(args, log=print) -> list:
    """The benchmark of ``parse_args``' ``args``; the result rows."""

    loaded = None
    if args.dataset:
        loaded = load_dataset(args.dataset, args.data_dir, seed=args.seed,
                              **dict(args.dataset_option))
    machine = args.machine or label()
    rows, models = {}, {}
    for name in args.models:
        kwargs = model_kwargs(name, args.overrides, args.minape_preset)
        row = {"model": name, "label": BUILDERS[name].label, "machine": machine,
               "arguments": kwargs}
        rows[name] = row
        try:
            groups = groups_read_by(name, loaded.groups if loaded else paper_groups(name))
            models[name] = build_model(name, groups, len(loaded.source.classes) if loaded
                                       else 3, **kwargs)
        except ValueError as error:
            row["skipped"] = f"n/a: {error}"
            log(f"{name}: skipped ({error})")
            continue
        row.update(modality=modality_code(groups), fusion=fusion_label(name, groups, kwargs),
                   groups=[g.name for g in groups])
        log(f"{name}: {models[name].count_params():,} parameters")
    with tempfile.TemporaryDirectory() as tmp:
        for name, facts in model_facts(models, tmp).items():
            rows[name].update(facts)
    if args.rounds > 0:
        latency = interleaved_latency(models, rounds=args.rounds, log=log)
        for name in models:
            for b in (1, 32):
                rows[name][f"latency_ms_b{b}"] = latency[name, b]
                if "minape" in models:
                    rows[name][f"latency_ratio_b{b}"] = latency[name, b] / latency["minape", b]
    if loaded is not None:
        for name in list(models):
            del models[name]                        # free the untrained copies
            log(f"\n== {name}: training on {args.dataset}")
            try:
                scores = train_and_score(name, rows[name]["arguments"], loaded, args,
                                         args.out, log=log)
            except ValueError as error:        # the training loop refuses the model
                rows[name]["skipped"] = f"n/a: {error}"
                log(f"{name}: not trained ({error})")
                continue
            rows[name].update({k: v for k, v in scores.items()
                               if k.startswith(("accuracy", "auc_macro", "f1_macro", "n_"))
                               or k == "wall_s"})
    return list(rows.values())


def markdown_table(rows, args) -> str:
    if args.dataset:
        protocol = ("its own split, one run" if args.split else
                    f"{args.trials} trial(s) x {args.folds}-fold rotation")
        title = f"{args.dataset} ({protocol}, {args.epochs} epochs, seed {args.seed})"
    else:
        title = "Table 3's models on Mudestreda's inputs (untrained)"
    machine = rows[0]["machine"] if rows else ""
    return markdown(table_rows(rows), COLUMNS,
                    title=f"{title}; CPU latency on {machine}, median of interleaved rounds")


def main(argv=None) -> int:
    """Run the benchmark, print the table, write ``--json`` / ``--markdown``."""
    args = parse_args(argv)
    rows = run(args)
    text = markdown_table(rows, args)
    print("\n" + text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=_plain)
            f.write("\n")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return 0


def _plain(value):
    """JSON for numpy scalars and tuples in the rows."""
    return value.item() if hasattr(value, "item") else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
