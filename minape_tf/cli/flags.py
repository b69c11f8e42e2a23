"""The flags shared by the commands: data, model and training settings generated from where
they are defined (``build_minape``'s signature and docstring, read from its source, every
registered builder's, and ``TrainConfig``'s fields), output and strategy flags, and the
:class:`~minape_tf.training.config.TrainConfig` of a parsed command line (defaults <
``--config`` file < flags). Nothing here imports TensorFlow."""

from __future__ import annotations

import dataclasses

from minape_tf.arguments import from_dataclass, key_value
from minape_tf.models.registry import BUILDERS, builder_arguments
from minape_tf.training.config import TrainConfig, load_config, read_config_file

# TrainConfig fields with flags of their own making (below), or none.
HAND_MADE = ("dataset", "data_dir", "dataset_options", "groups", "model", "augmentation",
             "jit_compile", "verbose")
ALIASES = {"learning_rate": ["--lr"], "min_learning_rate": ["--min-lr"],
           "architecture": ["--model"]}
SECTIONS = {"Data": "data", "Model": "model", "Optimisation": "training"}
MODEL_DEST, CONFIG_DEST = "model__", "config__"
BARE_VERBOSE = -1      # ``--verbose`` without a number
SELF_TRAIN_HELP = ("also the accuracy with the model self-trained on each group's "
                   "observations, without their labels, as `minape adapt --self-train` "
                   "does on a new device")


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


def add_data_flags(p):
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


def dataset_options(args):
    """The loader options of ``-D KEY=VALUE`` and ``--skip-bad``; None when there are none."""
    options = dict(args.dataset_option)
    if args.skip_bad:
        options["skip_bad"] = True
    return options or None


def add_train_flags(p):
    """Data, model and training flags: generated from ``TrainConfig`` and the builders (the
    arguments of every registered builder; a name they share is one flag)."""
    groups = {"data": add_data_flags(p), "model": p.add_argument_group("model"),
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
    verbose = 1 if args.verbose == BARE_VERBOSE else args.verbose
    config = config.updated(dataset=args.dataset, data_dir=args.data_dir,
                            dataset_options=dataset_options(args), model=model or None,
                            groups=groups or None, augmentation=dict(args.augmentation) or None,
                            jit_compile=args.jit_compile, verbose=verbose, **changes)
    if no_clipping:
        config.clipnorm = None
    return config


def add_output_flags(p, out_help, overwrite_help):
    group = p.add_argument_group("output")
    group.add_argument("--out", required=True, help=out_help)
    group.add_argument("--overwrite", action="store_true", help=overwrite_help)
    return group


def add_strategy_flag(group):
    group.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                   help="tf.distribute: mirrored = all GPUs of this machine, multiworker = "
                        "several machines through TF_CONFIG (default none)")


def add_self_train_flags(p, text):
    """``--self-train`` and ``--balanced`` (``minape adapt``, ``evaluate``, ``cv``); the
    command line's ``main`` turns them into ``args.self_train``: "off", "on" or "balanced"
    (the ``self_training`` of :func:`minape_tf.adaptation.per_group.adapted_probabilities`)."""
    p.add_argument("--self-train", action="store_true", help=text)
    p.add_argument("--balanced", action="store_true",
                   help="with --self-train, when the device's classes are about equally "
                        "frequent (every speaker says every digit): the targets are the "
                        "device's own clusters, balanced over the classes")


def self_training(args):
    """``--self-train`` / ``--balanced`` as a ``self_training`` value: "off", "on" or
    "balanced"."""
    if args.balanced and not args.self_train:
        raise UsageError("--balanced is a setting of --self-train: give both")
    return "balanced" if args.balanced else "on" if args.self_train else "off"
