"""``minape demo``, ``train``, ``evaluate``, ``cv`` and ``tune``: their flags and entry
functions (each imports the library it runs only when it runs)."""

from __future__ import annotations

import os

import yaml

from minape_tf.cli.flags import (SELF_TRAIN_HELP, add_data_flags, add_output_flags,
                                 add_self_train_flags, add_strategy_flag, add_train_flags,
                                 dataset_options)


def _strategy(args):
    """The tf.distribute strategy of ``--strategy``; made first, before TF starts its devices."""
    from minape_tf.training.distribute import make_strategy

    try:
        return make_strategy(args.strategy)
    except RuntimeError as error:  # TF already started; printed like the other input errors
        raise ValueError(str(error)) from error


def cmd_train(args, config):
    strategy = _strategy(args)
    from minape_tf.evaluation.report import summary_line
    from minape_tf.protocol.train_evaluate import train_and_evaluate

    result = train_and_evaluate(config, args.out, strategy=strategy, overwrite=args.overwrite,
                                evaluate=not args.no_evaluate, log=args.say)
    print(f"\nRun folder: {os.path.abspath(args.out)} ({result.wall_s:.0f} s, best epoch "
          f"{result.best_epoch})")
    if result.metrics:
        print("Test: " + summary_line(result.metrics))
    elif "evaluation" in result.info:
        print(f"Test: {result.info['evaluation']}")
    return 0


def cmd_evaluate(args, config):
    from minape_tf.evaluation.evaluate import evaluate_run
    from minape_tf.evaluation.report import group_lines, summary_line

    metrics = evaluate_run(args.run, dataset=args.dataset, data_dir=args.data_dir,
                           split=args.split, match=args.match, out_dir=args.out,
                           dataset_options=dataset_options(args),
                           latency=not args.no_latency, self_training=args.self_train,
                           log=args.say)
    print(summary_line(metrics))
    lines = group_lines(metrics)
    if lines:
        print("Per group:\n  " + "\n  ".join(lines))
    return 0


def cmd_cv(args, config):
    if args.verbose is None:
        config = config.updated(verbose=0)
    from minape_tf.protocol.cv import cross_validate

    cross_validate(config, args.out, trials=args.trials, folds=args.folds,
                   grouped=args.grouped, ablation=args.ablation,
                   leave_one_group_out=args.leave_one_group_out, overwrite=args.overwrite,
                   self_training=args.self_train, log=args.say)
    print(f"Tables: {os.path.join(os.path.abspath(args.out), 'table.md')}, table.csv, "
          "summary.csv, runs.csv")
    return 0


def cmd_tune(args, config):
    space = None
    if args.search_space:
        with open(args.search_space) as f:
            space = yaml.safe_load(f)
    strategy = _strategy(args)
    from minape_tf.protocol.tuning import tune

    best = tune(config, args.out, algorithm=args.algorithm, max_trials=args.max_trials,
                executions_per_trial=args.executions_per_trial, search_space=space,
                strategy=strategy, hyperband_factor=args.hyperband_factor,
                overwrite=args.overwrite)
    if best is None:
        print("This worker's trials are done; the chief writes best.json")
    else:
        print(f"Best: {best} -> {os.path.join(os.path.abspath(args.out), 'best.json')}")
    return 0


def cmd_demo(args, config):
    from minape_tf.protocol.demo import run_demo

    run_demo(args.out, seed=args.seed, epochs=args.epochs,
             verbose=0 if args.quiet else "auto")
    return 0


def demo_command(sub):
    """``demo``."""
    p = sub.add_parser("demo", help="train and evaluate image / series / multimodal Minape "
                                    "on the embedded demo data (a few minutes on a CPU)")
    p.add_argument("--out", default="minape-demo", help="folder for the runs (default "
                                                        "./minape-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(handler=cmd_demo)


def train_command(sub):
    """``train``."""
    p = sub.add_parser("train", help="train one model into a run folder")
    flags = add_train_flags(p)
    output = add_output_flags(p, "the run folder", "start afresh where a run is (finished, "
                                                    "unfinished or of another configuration)")
    output.add_argument("--no-evaluate", action="store_true", help="skip the test evaluation")
    add_strategy_flag(flags["training"])
    p.set_defaults(handler=cmd_train)


def evaluate_command(sub):
    """``evaluate``."""
    p = sub.add_parser("evaluate", help="metrics, report and plots of a run folder")
    p.add_argument("run", help="the run folder")
    add_data_flags(p)
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                   help="all: every observation under --data-dir (default test)")
    p.add_argument("--match", help="only ids matching this regular expression (a model "
                   "with --sequence-length > 1 gets histories of these only)")
    p.add_argument("--out", help="output folder (default: the run folder or RUN/eval-...)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    add_self_train_flags(p, SELF_TRAIN_HELP)
    p.set_defaults(handler=cmd_evaluate)


def cv_command(sub):
    """``cv``."""
    p = sub.add_parser("cv", help="T trials x K-fold rotation, tables in the paper's format")
    add_train_flags(p)
    protocol = p.add_argument_group("protocol")
    protocol.add_argument("--trials", type=int, default=5, help="default 5")
    protocol.add_argument("--folds", type=int, default=10, help="default 10")
    protocol.add_argument("--grouped", action="store_true",
                          help="group-aware folds (tool / speaker / manifest group)")
    protocol.add_argument("--leave-one-group-out", "--loso", action="store_true",
                          help="one fold per group (speaker / tool / manifest group), each "
                               "tested once by a model trained on the others; --folds unused")
    protocol.add_argument("--ablation", default="none",
                          choices=("none", "modalities", "fusion", "learner"))
    add_self_train_flags(protocol, SELF_TRAIN_HELP)
    add_output_flags(p, "folder of the runs and tables", "run afresh (finished folds are "
                                                          "otherwise reused)")
    p.set_defaults(handler=cmd_cv)


def tune_command(sub):
    """``tune``."""
    p = sub.add_parser("tune", help="keras-tuner search over width, depth, kernel and patch")
    flags = add_train_flags(p)
    search = p.add_argument_group("search")
    search.add_argument("--algorithm", choices=("random", "hyperband"), default="random")
    search.add_argument("--max-trials", type=int, default=10,
                        help="RandomSearch trials (default 10)")
    search.add_argument("--executions-per-trial", type=int, default=1)
    search.add_argument("--hyperband-factor", type=int, default=3)
    search.add_argument("--search-space", help="YAML/JSON: {width: [128, 256], depth: {min: 4, "
                                               "max: 16, step: 4}, ...}")
    add_output_flags(p, "search folder (shared by chief and workers)", "start the search "
                                                                        "afresh")
    add_strategy_flag(flags["training"])
    p.set_defaults(handler=cmd_tune)
