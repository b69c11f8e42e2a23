"""The ``minape`` command line (also ``python -m minape_tf``).

::

    minape demo                                      train + evaluate on the embedded demo
    minape train    --dataset NAME --data-dir DIR [--preset P | --config FILE] --out RUN
    minape evaluate RUN [--dataset NAME --data-dir DIR] [--split test|val|train|all]
    minape cv       --dataset NAME --data-dir DIR --trials 5 --folds 10 --out DIR
                    [--grouped] [--ablation modalities|fusion|learner]
    minape tune     --dataset NAME --data-dir DIR --algorithm random|hyperband --out DIR

Every ``TrainConfig`` field has a flag; flags override the ``--config`` file, which
overrides the defaults. ``minape COMMAND --help`` lists them.
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml

MODEL_FLAGS = {  # flag -> (build_minape argument, type, help)
    "--width": ("width", int, "channels of every pathway"),
    "--depth": ("depth", int, "channel-point blocks per pathway"),
    "--patch-size": ("patch_size", int, "patch side (1: Minape-dagger)"),
    "--kernel-size": ("kernel_size", int, "depthwise kernel side"),
    "--pooling": ("pooling", str, "avg or max"),
    "--fusion": ("fusion", str, "concat, add, multiply, average or attention"),
    "--learner": ("learner", str, "none, tempmixer, gru or lstm"),
    "--sequence-length": ("sequence_length", int, "consecutive observations per sample"),
    "--backbone": ("backbone", str, "Minape-S backbone, e.g. efficientnetv2-m"),
    "--dropout": ("dropout", float, "dropout before the classifier"),
    "--activation": ("activation", str, "gelu_approx, gelu or relu"),
    "--bn-momentum": ("bn_momentum", float, "batch-norm momentum of the pathways"),
    "--learner-units": ("learner_units", int, "GRU / LSTM units"),
    "--attention-heads": ("attention_heads", int, "heads of the attention fusion"),
}

TRAIN_FLAGS = {  # flag -> (TrainConfig field, type, help)
    "--batch-size": ("batch_size", int, "observations per batch (default 32)"),
    "--epochs": ("epochs", int, "epochs (default 30)"),
    "--lr": ("learning_rate", float, "peak learning rate of AdamW (default 1e-3)"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay (default 1e-4)"),
    "--warmup-epochs": ("warmup_epochs", float, "linear warm-up before the cosine (default 2)"),
    "--min-lr": ("min_learning_rate", float, "learning rate at the end of the cosine (default 0)"),
    "--label-smoothing": ("label_smoothing", float, "default 0.1"),
    "--mixup": ("mixup", float, "MixUp Beta alpha, 0 = off (default 0)"),
    "--cutmix": ("cutmix", float, "CutMix Beta alpha, 0 = off (default 0)"),
    "--clipnorm": ("clipnorm", float, "global gradient-norm clip, 0 = off (default 1)"),
    "--precision": ("precision", str, "auto, float32, mixed_float16 or mixed_bfloat16"),
    "--early-stopping": ("early_stopping", int, "patience in epochs, 0 = off (default 10)"),
    "--monitor": ("monitor", str, "quantity of the best checkpoint (default val_loss)"),
    "--bn-reestimate": ("bn_reestimate", str, "auto, epoch, end or off (default auto)"),
    "--steps-per-epoch": ("steps_per_epoch", int, "cap on the steps of an epoch"),
    "--seed": ("seed", int, "fixes splits, initialisation and shuffling (default 0)"),
    "--modalities": ("modalities", str, "all, image, series, or group names a,b"),
}


def _key_value(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def _add_data_flags(p, required=False):
    p.add_argument("--dataset", help="demo, fsdd, avdigits, mudestreda or manifest")
    p.add_argument("--data-dir", help="folder of the data set (a manifest: its CSV)")
    p.add_argument("--dataset-option", "-D", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE",
                   help="loader option, e.g. -D split=speaker -D test_speakers=[theo]")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="skip unreadable or invalid observations (counted and listed in the "
                        "report) instead of stopping at the first")


def _dataset_options(args):
    """The loader options of ``-D KEY=VALUE`` and ``--skip-bad``; None when there are none."""
    options = dict(args.dataset_option)
    if args.skip_bad:
        options["skip_bad"] = True
    return options or None


def _add_train_flags(p):
    _add_data_flags(p)
    p.add_argument("--config", help="YAML or JSON file of TrainConfig fields")
    p.add_argument("--preset", help="a key of minape_tf.presets")
    p.add_argument("--group", action="append", type=_key_value, default=[],
                   metavar="NAME.FIELD=VALUE", help="group override, e.g. force.n_mels=32")
    for flag, (_, kind, text) in {**MODEL_FLAGS, **TRAIN_FLAGS}.items():
        p.add_argument(flag, type=kind, help=text)
    p.add_argument("--features-in-model", action="store_true", default=None,
                   help="log-Mel inside the model (raw series in)")
    p.add_argument("--no-cache", dest="cache", action="store_false", default=None,
                   help="do not cache decoded features in memory")
    p.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="no train-time augmentation")
    p.add_argument("--jit-compile", choices=("auto", "on", "off"), help="XLA (default auto)")
    p.add_argument("--verbose", type=int, help="Keras verbosity: 0 silent, 1 bars, 2 lines")


def config_from_args(args):
    """The TrainConfig of parsed flags: defaults < --config file < flags."""
    from minape_tf.training.config import TrainConfig, load_config

    config = load_config(args.config) if getattr(args, "config", None) else TrainConfig()
    changes = {field: getattr(args, flag[2:].replace("-", "_"))
               for flag, (field, _, _) in TRAIN_FLAGS.items()}
    no_clipping = changes.get("clipnorm") == 0
    model = {arg: getattr(args, flag[2:].replace("-", "_"))
             for flag, (arg, _, _) in MODEL_FLAGS.items()}
    model = {k: v for k, v in model.items() if v is not None}
    if args.features_in_model:
        model["features_in_model"] = True
    groups = {}
    for key, value in args.group:
        if "." not in key:
            raise SystemExit(f"--group {key}={value}: expected NAME.FIELD=VALUE")
        name, field = key.split(".", 1)
        groups.setdefault(name, {})[field] = value
    jit = {"on": True, "off": False, "auto": "auto", None: None}[args.jit_compile]
    config = config.updated(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset,
                            dataset_options=_dataset_options(args),
                            model=model or None, groups=groups or None, cache=args.cache,
                            augment=args.augment, jit_compile=jit, verbose=args.verbose,
                            **changes)
    if no_clipping:
        config.clipnorm = None
    return config


def _summary(metrics):
    keys = ("accuracy", "auc_macro", "f1_macro", "n_test", "params", "size_mb",
            "latency_ms_b1", "latency_ms_b32")
    return ", ".join(f"{k} {metrics[k]:.4g}" if isinstance(metrics.get(k), float)
                     else f"{k} {metrics.get(k)}" for k in keys if k in metrics)


def _strategy(args):
    """The tf.distribute strategy of ``--strategy``; made first, before TF starts its devices."""
    from minape_tf.training.distribute import make_strategy

    try:
        return make_strategy(args.strategy)
    except RuntimeError as error:  # TF already started; printed like the other input errors
        raise ValueError(str(error)) from error


def cmd_train(args):
    strategy = _strategy(args)
    from minape_tf.training.train import train

    config = config_from_args(args)
    result = train(config, args.out, strategy=strategy, overwrite=args.overwrite,
                   evaluate=not args.no_evaluate)
    print(f"\nRun folder: {os.path.abspath(args.out)} ({result.wall_s:.0f} s, best epoch "
          f"{result.best_epoch})")
    if result.metrics:
        print("Test: " + _summary(result.metrics))
    return 0


def cmd_evaluate(args):
    from minape_tf.evaluation.evaluate import evaluate_run

    metrics = evaluate_run(args.run, dataset=args.dataset, data_dir=args.data_dir,
                           split=args.split, match=args.match, out_dir=args.out,
                           dataset_options=_dataset_options(args),
                           latency=not args.no_latency)
    print(_summary(metrics))
    return 0


def cmd_cv(args):
    from minape_tf.protocol.cv import cross_validate

    config = config_from_args(args)
    if args.verbose is None:
        config = config.updated(verbose=0)
    cross_validate(config, args.out, trials=args.trials, folds=args.folds,
                   grouped=args.grouped, ablation=args.ablation)
    print(f"Tables: {os.path.join(os.path.abspath(args.out), 'table.md')}, table.csv, "
          "summary.csv, runs.csv")
    return 0


def cmd_tune(args):
    strategy = _strategy(args)
    from minape_tf.tuning import tune

    config = config_from_args(args)
    space = None
    if args.search_space:
        with open(args.search_space) as f:
            space = yaml.safe_load(f)
    best = tune(config, args.out, algorithm=args.algorithm, max_trials=args.max_trials,
                executions_per_trial=args.executions_per_trial, search_space=space,
                strategy=strategy, hyperband_factor=args.hyperband_factor,
                overwrite=args.overwrite)
    if best is None:
        print("This worker's trials are done; the chief writes best.json")
    else:
        print(f"Best: {best} -> {os.path.join(os.path.abspath(args.out), 'best.json')}")
    return 0


def _add_strategy_flag(p):
    p.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                   help="tf.distribute: mirrored = all GPUs of this machine, multiworker = "
                        "several machines through TF_CONFIG (default none)")


def cmd_demo(args):
    from minape_tf.protocol.demo import run_demo

    run_demo(args.out, seed=args.seed, epochs=args.epochs,
             verbose=0 if args.quiet else "auto")
    return 0


def _not_yet(name):
    def run(args):
        print(f"minape {name}: not implemented yet", file=sys.stderr)
        return 2
    return run


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minape", description="Minape: multimodal isotropic conv net with patch "
                                   "embedding (ICONIP 2023), Keras 3 / TensorFlow")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train and evaluate image / series / multimodal Minape "
                                    "on the embedded demo data (a few minutes on a CPU)")
    p.add_argument("--out", default="minape-demo", help="folder for the runs (default "
                                                        "./minape-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("train", help="train one model into a run folder")
    _add_train_flags(p)
    p.add_argument("--out", required=True, help="the run folder")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run")
    p.add_argument("--no-evaluate", action="store_true", help="skip the test evaluation")
    _add_strategy_flag(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("evaluate", help="metrics, report and plots of a run folder")
    p.add_argument("run", help="the run folder")
    _add_data_flags(p)
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                   help="all: every observation under --data-dir (default test)")
    p.add_argument("--match", help="only ids matching this regular expression")
    p.add_argument("--out", help="output folder (default: the run folder or RUN/eval-...)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("cv", help="T trials x K-fold rotation, tables in the paper's format")
    _add_train_flags(p)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--grouped", action="store_true",
                   help="group-aware folds (tool / speaker / manifest group)")
    p.add_argument("--ablation", default="none",
                   choices=("none", "modalities", "fusion", "learner"))
    p.add_argument("--out", required=True)
    p.set_defaults(handler=cmd_cv)

    p = sub.add_parser("tune", help="keras-tuner search over width, depth, kernel and patch")
    _add_train_flags(p)
    p.add_argument("--algorithm", choices=("random", "hyperband"), default="random")
    p.add_argument("--max-trials", type=int, default=10, help="RandomSearch trials (default 10)")
    p.add_argument("--executions-per-trial", type=int, default=1)
    p.add_argument("--hyperband-factor", type=int, default=3)
    p.add_argument("--search-space", help="YAML/JSON: {width: [128, 256], depth: {min: 4, "
                                          "max: 16, step: 4}, ...}")
    p.add_argument("--overwrite", action="store_true", help="start the search afresh")
    p.add_argument("--out", required=True, help="search folder (shared by chief and workers)")
    _add_strategy_flag(p)
    p.set_defaults(handler=cmd_tune)

    from minape_tf.export import cli as export_cli

    p = sub.add_parser("export", help="export a run as SavedModel (TF Serving layout) and "
                                      "TFLite float32 / float16 / int8")
    export_cli.add_export_arguments(p)
    p.set_defaults(handler=export_cli.export_main)

    p = sub.add_parser("predict", help="classify files with a run or an export folder")
    export_cli.add_predict_arguments(p)
    p.set_defaults(handler=export_cli.predict_main)

    for name, text in (("bench", "benchmarks"),):
        p = sub.add_parser(name, help=f"{text} (not implemented yet)")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_not_yet(name))
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"minape {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
