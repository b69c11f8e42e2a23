"""The ``minape`` command line (also ``python -m minape_tf``).

::

    minape demo                                      train + evaluate on the embedded demo
    minape train    --dataset NAME --data-dir DIR [--preset P | --config FILE] --out RUN
    minape evaluate RUN [--dataset NAME --data-dir DIR] [--split test|val|train|all]
    minape cv       --dataset NAME --data-dir DIR --trials 5 --folds 10 --out DIR
                    [--grouped | --leave-one-group-out] [--ablation modalities|fusion|learner]
                    [--self-train [--balanced]]
    minape tune     --dataset NAME --data-dir DIR --algorithm random|hyperband --out DIR

The model and training flags are made from where the settings are defined: one flag per
argument of the model builder (``build_minape``'s signature and docstring, read from its
source) and per ``TrainConfig`` field, with their help, defaults and choices. Flags
override the ``--config`` file, which overrides the defaults.

The parser imports no TensorFlow: ``--help`` and argument errors are immediate. A command
that needs TensorFlow starts it quietly (:func:`start_tensorflow`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile

import yaml

from minape_tf.arguments import from_dataclass, key_value
from minape_tf.builders import BUILDERS, builder_arguments
from minape_tf.deploy import cli as deploy_cli
from minape_tf.outputs.atomic import DiskFullError
from minape_tf.outputs.lock import FolderInUse
from minape_tf.training.config import TrainConfig, load_config, read_config_file

# TrainConfig fields with flags of their own making (below), or none.
HAND_MADE = ("dataset", "data_dir", "dataset_options", "groups", "model", "augmentation",
             "jit_compile", "verbose")
ALIASES = {"learning_rate": ["--lr"], "min_learning_rate": ["--min-lr"],
           "architecture": ["--model"]}
SECTIONS = {"Data": "data", "Model": "model", "Optimisation": "training"}
# Python spellings in library messages -> the flag a command-line user types instead.
FLAG_HINTS = {"skip_bad=True": "--skip-bad", "overwrite=True": "--overwrite",
              "allow_duplicates=True": "--allow-duplicates",
              "another folder": "another --out"}
MODEL_DEST, CONFIG_DEST = "model__", "config__"
BARE_VERBOSE = -1      # ``--verbose`` without a number


class UsageError(ValueError):
    """A command line that cannot run (exit status 2)."""


def _flag(name):
    return "--" + name.replace("_", "-")


def add_argument_flag(group, argument, dest):
    """One flag for an :class:`~minape_tf.arguments.Argument` (``None`` when not given, so
    that an unset flag leaves the config file's value); ``False`` for arguments of no
    command-line type (dicts, lists)."""
    default = argument.default
    text = argument.help or argument.name.replace("_", " ")
    if argument.type is bool and not argument.choices:
        if default is True:
            group.add_argument("--no-" + argument.name.replace("_", "-"), dest=dest,
                               action="store_false", default=None,
                               help=f"switch off: {text[0].lower()}{text[1:]}")
        else:
            group.add_argument(_flag(argument.name), dest=dest, action="store_true",
                               default=None, help=text)
        return True
    if default not in (None, ""):
        text += f" (default {default})"
    if argument.type not in (int, float, str):
        return False
    names = [_flag(argument.name), *ALIASES.get(argument.name, [])]
    choices = [c for c in argument.choices if c is not None] if argument.choices else None
    group.add_argument(*names, dest=dest, type=argument.type, choices=choices,
                       metavar=None if choices else argument.name.upper(), help=text)
    return True


def _add_data_flags(p):
    group = p.add_argument_group("data")
    for argument in from_dataclass(TrainConfig):
        if argument.name in ("dataset", "data_dir"):
            # no default shown: train needs one named, evaluate defaults to the run's
            add_argument_flag(group, dataclasses.replace(argument, default=None),
                              argument.name)
    group.add_argument("--dataset-option", "-D", action="append", type=key_value,
                       default=[], metavar="KEY=VALUE",
                       help="loader option, e.g. -D split=speaker -D test_speakers=[theo]")
    group.add_argument("--skip-bad", action="store_true", default=None,
                       help="skip unreadable or invalid observations (counted, said on the "
                            "console and listed in the report) instead of stopping")
    return group


def _dataset_options(args):
    """The loader options of ``-D KEY=VALUE`` and ``--skip-bad``; None when there are none."""
    options = dict(args.dataset_option)
    if args.skip_bad:
        options["skip_bad"] = True
    return options or None


def _add_train_flags(p):
    """Data, model and training flags: generated from ``TrainConfig`` and the builders (the
    arguments of every registered builder; a name they share is one flag)."""
    groups = {"data": _add_data_flags(p), "model": p.add_argument_group("model"),
              "training": p.add_argument_group("training")}
    groups["data"].add_argument("--group", action="append", type=key_value, default=[],
                                metavar="NAME.FIELD=VALUE",
                                help="group override, e.g. force.n_mels=32")
    groups["data"].add_argument("--augmentation", "-A", action="append", type=key_value,
                                default=[], metavar="KEY=VALUE",
                                help="series augmentation strength, e.g. -A stretch=0.1 "
                                     "-A noise_snr_db=[10,30] (keys: gain_db, noise_snr_db, "
                                     "stretch, warp, shift, time_masks, time_width, "
                                     "freq_masks, freq_width)")
    groups["model"].add_argument("--config", help="YAML or JSON file of TrainConfig fields "
                                                  "(model settings under `model:`)")
    for argument in from_dataclass(TrainConfig, skip=HAND_MADE):
        section = SECTIONS.get(argument.section.split(" (")[0], "training")
        add_argument_flag(groups[section], argument, CONFIG_DEST + argument.name)
    made = set()
    for architecture in BUILDERS:
        for argument in builder_arguments(architecture):
            if argument.name not in made:
                made.add(argument.name)
                add_argument_flag(groups["model"], argument, MODEL_DEST + argument.name)
    groups["training"].add_argument("--jit-compile", choices=("auto", "on", "off"),
                                    help="XLA (default auto: on with a GPU)")
    groups["training"].add_argument(
        "--verbose", type=int, nargs="?", const=BARE_VERBOSE, metavar="N",
        help="Keras progress: 0 silent, 1 bars, 2 a line per epoch; --verbose alone also "
             "shows TensorFlow's start-up logging")
    return groups


def config_from_args(args) -> TrainConfig:
    """The TrainConfig of parsed flags: defaults < --config file < flags.

    Raises
    ------
    UsageError
        No data set named (``--dataset`` or the config file's ``dataset``).
    """
    file_values = read_config_file(args.config) if getattr(args, "config", None) else {}
    if not (args.dataset or file_values.get("dataset")):
        raise UsageError("--dataset is required (or a config file's `dataset:`); see "
                         "--help for the data sets, and `minape demo` for the demo")
    config = load_config(args.config) if file_values else TrainConfig()
    values = vars(args)
    changes = {k[len(CONFIG_DEST):]: v for k, v in values.items() if k.startswith(CONFIG_DEST)}
    model = {k[len(MODEL_DEST):]: v for k, v in values.items()
             if k.startswith(MODEL_DEST) and v is not None}
    no_clipping = changes.get("clipnorm") == 0
    groups = {}
    for key, value in args.group:
        if "." not in key:
            raise UsageError(f"--group {key}={value}: expected NAME.FIELD=VALUE")
        name, field = key.split(".", 1)
        groups.setdefault(name, {})[field] = value
    jit = {"on": True, "off": False, "auto": "auto", None: None}[args.jit_compile]
    verbose = 1 if args.verbose == BARE_VERBOSE else args.verbose
    config = config.updated(dataset=args.dataset, data_dir=args.data_dir,
                            dataset_options=_dataset_options(args), model=model or None,
                            groups=groups or None, augmentation=dict(args.augmentation) or None,
                            jit_compile=jit, verbose=verbose, **changes)
    if no_clipping:
        config.clipnorm = None
    return config


def show_tensorflow_logs(args) -> bool:
    """TensorFlow's start-up logging is shown with a bare ``--verbose``, or when the
    environment asks for some of it (``TF_CPP_MIN_LOG_LEVEL`` below 3)."""
    return (os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") != "3"
            or getattr(args, "verbose", None) == BARE_VERBOSE)


def start_tensorflow(show_logs=False):
    """Import TensorFlow and let it find its devices; unless ``show_logs``, with its C++
    logging off (``TF_CPP_MIN_LOG_LEVEL=3``) and the lines it writes to the process's
    standard error while starting (CUDA probing, absl notices) held back, and printed only
    if starting fails. Nothing of ours runs meanwhile, so none of our warnings is hidden."""
    if not show_logs:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with (contextlib.nullcontext(_Held()) if show_logs else _held_stderr()) as held:
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()
        except BaseException:
            held.failed = True
            raise


class _Held:
    failed = False


@contextlib.contextmanager
def _held_stderr():
    """Point file descriptor 2 at a temporary file for the block; replay it on failure."""
    held = _Held()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real stderr (some notebooks): nothing to hold
        yield held
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if held.failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))


def _strategy(args):
    """The tf.distribute strategy of ``--strategy``; made first, before TF starts its devices."""
    from minape_tf.training.distribute import make_strategy

    try:
        return make_strategy(args.strategy)
    except RuntimeError as error:  # TF already started; printed like the other input errors
        raise ValueError(str(error)) from error


SELF_TRAIN_HELP = ("also the accuracy with the model self-trained on each group's "
                   "observations, without their labels, as `minape adapt --self-train` "
                   "does on a new device")


def cmd_train(args, config):
    strategy = _strategy(args)
    from minape_tf.evaluation.report import summary_line
    from minape_tf.protocol.run import train_and_evaluate

    result = train_and_evaluate(config, args.out, strategy=strategy, overwrite=args.overwrite,
                                evaluate=not args.no_evaluate, log=say)
    print(f"\nRun folder: {os.path.abspath(args.out)} ({result.wall_s:.0f} s, best epoch "
          f"{result.best_epoch})")
    if result.metrics:
        print("Test: " + summary_line(result.metrics))
    return 0


def cmd_evaluate(args, config):
    from minape_tf.evaluation.evaluate import evaluate_run
    from minape_tf.evaluation.report import group_lines, summary_line

    metrics = evaluate_run(args.run, dataset=args.dataset, data_dir=args.data_dir,
                           split=args.split, match=args.match, out_dir=args.out,
                           dataset_options=_dataset_options(args),
                           latency=not args.no_latency, self_training=args.self_train,
                           log=say)
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
                   self_training=args.self_train, log=say)
    print(f"Tables: {os.path.join(os.path.abspath(args.out), 'table.md')}, table.csv, "
          "summary.csv, runs.csv")
    return 0


def cmd_tune(args, config):
    space = None
    if args.search_space:
        with open(args.search_space) as f:
            space = yaml.safe_load(f)
    strategy = _strategy(args)
    from minape_tf.tuning import tune

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


def cmd_bench(args, config):
    """``minape bench models|pipeline [FLAGS]``: the benchmark's own ``main`` with FLAGS."""
    if args.what == "models":
        from minape_tf.bench.models import main as bench
    else:
        from minape_tf.bench.pipeline import main as bench
    return bench(args.rest)


def _add_output_flags(p, out_help, overwrite_help):
    group = p.add_argument_group("output")
    group.add_argument("--out", required=True, help=out_help)
    group.add_argument("--overwrite", action="store_true", help=overwrite_help)
    return group


def _add_strategy_flag(group):
    group.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                   help="tf.distribute: mirrored = all GPUs of this machine, multiworker = "
                        "several machines through TF_CONFIG (default none)")


class _AnyOrder(argparse.ArgumentParser):
    """A command's parser: options before, between and after its positional arguments
    (argparse's intermixed parsing; plain parsing for a command that passes the rest of its
    line on, like ``bench``)."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):
        passes_on = any(a.nargs in (argparse.PARSER, argparse.REMAINDER)
                        for a in self._get_positional_actions())
        if self._inside or passes_on:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minape", description="Minape: multimodal isotropic conv net with patch "
                                   "embedding (ICONIP 2023), Keras 3 / TensorFlow")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_AnyOrder)
    for command in (_demo_command, _train_command, _evaluate_command, _cv_command,
                    _tune_command, _deploy_command, _bench_command):
        command(sub)
    return parser


def _demo_command(sub):
    """``demo``."""
    p = sub.add_parser("demo", help="train and evaluate image / series / multimodal Minape "
                                    "on the embedded demo data (a few minutes on a CPU)")
    p.add_argument("--out", default="minape-demo", help="folder for the runs (default "
                                                        "./minape-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    p.set_defaults(handler=cmd_demo)


def _train_command(sub):
    """``train``."""
    p = sub.add_parser("train", help="train one model into a run folder")
    flags = _add_train_flags(p)
    output = _add_output_flags(p, "the run folder", "start afresh where a run is (finished, "
                                                    "unfinished or of another configuration)")
    output.add_argument("--no-evaluate", action="store_true", help="skip the test evaluation")
    _add_strategy_flag(flags["training"])
    p.set_defaults(handler=cmd_train)


def _evaluate_command(sub):
    """``evaluate``."""
    p = sub.add_parser("evaluate", help="metrics, report and plots of a run folder")
    p.add_argument("run", help="the run folder")
    _add_data_flags(p)
    p.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                   help="all: every observation under --data-dir (default test)")
    p.add_argument("--match", help="only ids matching this regular expression (a model "
                   "with --sequence-length > 1 gets histories of these only)")
    p.add_argument("--out", help="output folder (default: the run folder or RUN/eval-...)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    deploy_cli.add_self_train_flags(p, SELF_TRAIN_HELP)
    p.set_defaults(handler=cmd_evaluate)


def _cv_command(sub):
    """``cv``."""
    p = sub.add_parser("cv", help="T trials x K-fold rotation, tables in the paper's format")
    _add_train_flags(p)
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
    deploy_cli.add_self_train_flags(protocol, SELF_TRAIN_HELP)
    _add_output_flags(p, "folder of the runs and tables", "run afresh (finished folds are "
                                                          "otherwise reused)")
    p.set_defaults(handler=cmd_cv)


def _tune_command(sub):
    """``tune``."""
    p = sub.add_parser("tune", help="keras-tuner search over width, depth, kernel and patch")
    flags = _add_train_flags(p)
    search = p.add_argument_group("search")
    search.add_argument("--algorithm", choices=("random", "hyperband"), default="random")
    search.add_argument("--max-trials", type=int, default=10,
                        help="RandomSearch trials (default 10)")
    search.add_argument("--executions-per-trial", type=int, default=1)
    search.add_argument("--hyperband-factor", type=int, default=3)
    search.add_argument("--search-space", help="YAML/JSON: {width: [128, 256], depth: {min: 4, "
                                               "max: 16, step: 4}, ...}")
    _add_output_flags(p, "search folder (shared by chief and workers)", "start the search "
                                                                        "afresh")
    _add_strategy_flag(flags["training"])
    p.set_defaults(handler=cmd_tune)


def _deploy_command(sub):
    """``export``, ``predict`` and ``adapt``: the deployment commands."""
    p = sub.add_parser("export", help="export a run as SavedModel (TF Serving layout), TFLite "
                                      "(float32, float16, dynamic, int8...) and ONNX")
    deploy_cli.add_export_arguments(p)
    p.set_defaults(handler=deploy_cli.export_main)

    p = sub.add_parser("predict", help="classify files with a run or an export folder")
    deploy_cli.add_predict_arguments(p)
    p.set_defaults(handler=deploy_cli.predict_main)

    p = sub.add_parser("adapt", help="re-estimate a model's batch norms (and equalisation) "
                                     "on a new device's unlabelled files (AdaBN), with "
                                     "--self-train its weights too, for deployment there")
    deploy_cli.add_adapt_arguments(p)
    p.set_defaults(handler=deploy_cli.adapt_main)


def _bench_command(sub):
    """``bench``."""
    p = sub.add_parser("bench", help="benchmarks: models (Minape against the paper's "
                                     "baselines, Table 3) or pipeline (make_dataset against "
                                     "a librosa loop); print JSON / Markdown")
    p.add_argument("what", choices=("models", "pipeline"))
    p.add_argument("rest", nargs=argparse.REMAINDER,
                   help="the benchmark's own flags (e.g. minape bench models --json out.json; "
                        "minape bench models --help lists them)")
    p.set_defaults(handler=cmd_bench)


def _for_the_command_line(message: str) -> str:
    for python, flag in FLAG_HINTS.items():
        message = message.replace(python, flag)
    return message


def say(message):
    """Print a library's progress line on stdout, its hints in command-line terms."""
    print(_for_the_command_line(str(message)))


def _self_training(args):
    """``--self-train`` / ``--balanced`` as a ``self_training`` value: False, True or
    "balanced"."""
    if args.balanced and not args.self_train:
        raise UsageError("--balanced is a setting of --self-train: give both")
    return "balanced" if args.balanced else args.self_train


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        # every setting is checked before TensorFlow starts or any data is read
        config = config_from_args(args) if hasattr(args, "group") else None
        if hasattr(args, "balanced"):
            args.self_train = _self_training(args)
        start_tensorflow(show_tensorflow_logs(args))
        return int(args.handler(args, config) or 0)
    except UsageError as error:
        print(f"minape {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, FolderInUse, DiskFullError) as error:
        print(f"minape {args.command}: error: {_for_the_command_line(str(error))}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
