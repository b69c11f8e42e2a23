"""The configuration of one training run: defaults, YAML/JSON files, command-line overrides.

A config is a flat :class:`TrainConfig`; ``model`` holds ``build_minape`` keyword
arguments (over the ``preset``), ``groups`` per-group field overrides, ``dataset_options``
the loader's keyword arguments. Precedence: defaults < config file < command-line flags.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import yaml

from minape_tf.arguments import named_choice
from minape_tf.models.presets import DATASET_PRESETS, presets
from minape_tf.models.registry import BUILDERS, builder_arguments, check_model_arguments
from minape_tf.outputs.atomic import write_json, write_text

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# Settings that leave the trained weights as they are: a run may resume under others.
NOT_FINGERPRINTED = ("verbose", "cache", "allow_duplicates")
BN_MODES = ("auto", "epoch", "end", "off")
JIT_MODES = ("auto", "on", "off")
DEFAULT_EPOCHS = 30


@dataclass
class TrainConfig:
    """Everything a training run needs; every field has a default.

    Data
    ----
    dataset : str, default "demo"
        Registered data set: demo, fsdd, avdigits, mudestreda, manifest.
    data_dir : str or None, default None
        Its folder (the demo needs none).
    dataset_options : dict, default {}
        Loader keyword arguments, e.g. ``{"split": "speaker", "test_speakers": ["theo"]}``.
    modalities : str or list, default "all"
        Groups the model reads: "all", "image", "series", or a list of group names.
    groups : dict, default {}
        Per-group field overrides, ``{"force": {"n_mels": 32}}``.
    batch_size : int, default 32
    cache : bool, default True
        Cache decoded features in memory.
    augment : bool, default True
        The pipeline's train-only augmentation.
    augmentation : dict, default {}
        Strengths of the series augmentation over its defaults
        (:class:`minape_tf.data.augment.SeriesAugmentation`: gain_db, noise_snr_db, stretch,
        warp, shift, time_masks, time_width, freq_masks, freq_width).
    allow_duplicates : bool, default False
        Go on when an observation is in more than one split (the same file, or the same
        content under another name: :mod:`minape_tf.data.leakage`); they are listed in
        ``run.json`` and counted in the report. False: such a training is refused.

    Model
    -----
    architecture : str, default "minape"
        The model builder by name (``minape_tf.models.registry.BUILDERS``).
    preset : str or None, default None
        A key of ``minape_tf.models.presets``; its arguments come first. None: the data set's
        preset (``minape_tf.models.presets.DATASET_PRESETS``: fsdd and avdigits get "fsdd") for
        Minape, else none; "none": no preset.
    model : dict, default {}
        ``build_minape`` keyword arguments over the preset (width, depth, patch_size, ...).

    Optimisation (paper Section 4.1: AdamW, learning rate 1e-3)
    --------------------------------------------------------------
    epochs : int or None, default None
        Epochs of the run. None: ``DEFAULT_EPOCHS`` (30) epochs of at least ``min_steps /
        30`` optimizer steps each: on a small data set an epoch then passes over the
        training set more than once (reshuffled and augmented anew each time), so that the
        run makes ``min_steps`` steps.
    min_steps : int, default 1000
        The fewest optimizer steps of a run whose ``epochs`` and ``steps`` are None, in the
        spirit of the paper's 3,000 iterations (Section 4.1); also the steps before which
        early stopping never ends a run (a small validation split is too noisy to stop on
        sooner). 0 switches both off.
    steps : int or None, default None
        A total budget of optimizer steps (the paper's 3,000 iterations) that replaces
        ``epochs``: the run has as many epochs as it takes, stops after exactly ``steps``
        steps (its last epoch cut short) and the learning-rate schedule decays over
        ``steps``. Early stopping may still end it sooner.
    learning_rate : float, default 1e-3
        Peak learning rate, reached after the warm-up.
    weight_decay : float, default 1e-4
        AdamW's decoupled weight decay.
    warmup_epochs : float, default 2.0
        Linear warm-up, then cosine decay to ``min_learning_rate``.
    min_learning_rate : float, default 0.0
    label_smoothing : float, default 0.1
    mixup : float, default 0.0
        MixUp's Beta(alpha, alpha); 0 switches it off.
    cutmix : float, default 0.0
        CutMix's Beta(alpha, alpha); 0 switches it off.
    clipnorm : float or None, default 1.0
        Clip the global gradient norm; None: no clipping.
    precision : {"auto", "float32", "mixed_float16", "mixed_bfloat16"}, default "auto"
        auto: mixed_float16 on a GPU, float32 on a CPU. The softmax stays float32.
    jit_compile : {"auto", "on", "off"}, default "auto"
        XLA. auto: on a GPU, off on a CPU (where it was not faster here); falls back to
        no XLA with a warning if compilation fails.
    early_stopping : int, default 10
        Patience in epochs on ``monitor``; 0 switches early stopping off.
    monitor : str, default "val_loss"
        Selects the best-validation checkpoint and drives early stopping.
    bn_reestimate : {"auto", "epoch", "end", "off"}, default "auto"
        Re-estimate batch-norm statistics on the training data (see
        ``minape_tf.adaptation.batchnorm``): before every validation ("epoch"), only on the
        final weights ("end"), or never. auto: "epoch" when an epoch has at most 200 steps,
        else "end".
    steps_per_epoch : int or None, default None
        Cap on the steps of an epoch (None: the whole training set).
    seed : int, default 0
        Fixes splits, initialisation, shuffling and augmentation.
    verbose : int or "auto", default "auto"
        Keras progress: 0 silent, 1 a progress bar, 2 one line per epoch; "auto": the bar on
        a terminal, one line per epoch when the output goes to a file or a pipe.
    """

    dataset: str = "demo"
    data_dir: str | None = None
    dataset_options: dict = field(default_factory=dict)
    modalities: object = "all"
    groups: dict = field(default_factory=dict)
    batch_size: int = 32
    cache: bool = True
    augment: bool = True
    augmentation: dict = field(default_factory=dict)
    allow_duplicates: bool = False
    architecture: str = "minape"
    preset: str | None = None
    model: dict = field(default_factory=dict)
    epochs: int | None = None
    min_steps: int = 1000
    steps: int | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    min_learning_rate: float = 0.0
    label_smoothing: float = 0.1
    mixup: float = 0.0
    cutmix: float = 0.0
    clipnorm: float | None = 1.0
    precision: str = "auto"
    jit_compile: str = "auto"
    early_stopping: int = 10
    monitor: str = "val_loss"
    bn_reestimate: str = "auto"
    steps_per_epoch: int | None = None
    seed: int = 0
    verbose: object = "auto"

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raise ``ValueError`` naming the field for a value out of range."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; expected one of {PRECISIONS}")
        if self.bn_reestimate not in BN_MODES:
            raise ValueError(f"bn_reestimate={self.bn_reestimate!r}; expected one of {BN_MODES}")
        self.jit_compile = named_choice("jit_compile", self.jit_compile, JIT_MODES)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r}; expected a positive integer")
        for name in ("epochs", "steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r}; expected a positive integer or None")
        if not isinstance(self.min_steps, int) or self.min_steps < 0:
            raise ValueError(f"min_steps={self.min_steps!r}; expected an integer >= 0")
        for name in ("learning_rate", "weight_decay", "warmup_epochs", "min_learning_rate",
                     "mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r}; expected >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing={self.label_smoothing!r}; expected in [0, 1)")
        if self.architecture not in BUILDERS:
            raise ValueError(f"architecture={self.architecture!r}; expected one of "
                             f"{sorted(BUILDERS)}")
        if self.preset not in (None, "none") and self.preset not in presets:
            raise ValueError(f"preset {self.preset!r} is not known; expected one of "
                             f"{sorted(presets)}")
        check_model_arguments(self.model, self.architecture)
        if isinstance(self.modalities, str) and self.modalities not in ("all", "image", "series"):
            self.modalities = [m.strip() for m in self.modalities.split(",") if m.strip()]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resolved_preset(self) -> str | None:
        """The preset in use: ``preset``, or the data set's for Minape when it is None."""
        if self.preset is None:
            return DATASET_PRESETS.get(self.dataset) if self.architecture == "minape" else None
        return None if self.preset == "none" else self.preset

    def model_arguments(self) -> dict:
        """The builder's keyword arguments: the preset's (:meth:`resolved_preset`), then
        ``model``'s."""
        preset = self.resolved_preset()
        return {**(presets[preset] if preset else {}), **self.model}

    def fingerprint(self) -> dict:
        """The settings that shape the weights (all but ``NOT_FINGERPRINTED``), as they read
        back from JSON: a run folder resumes only under the same fingerprint."""
        return as_plain_settings({k: v for k, v in self.to_dict().items()
                                  if k not in NOT_FINGERPRINTED})

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A config from a dict; unknown keys are an error that lists the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            model_keys = sorted(set(unknown) & {a.name for a in builder_arguments(
                values.get("architecture", "minape"))})
            hint = (f"; {model_keys} are model settings: they go under `model:` (e.g. "
                    f"`model: {{{model_keys[0]}: ...}}`)" if model_keys else "")
            raise ValueError(f"unknown config keys {unknown}{hint}; known keys: "
                             f"{sorted(known)}")
        return cls(**values)

    def updated(self, **changes) -> "TrainConfig":
        """A copy with ``changes``; ``None`` values are ignored; dict fields are merged."""
        values = self.to_dict()
        for key, value in changes.items():
            if value is None:
                continue
            if isinstance(values.get(key), dict) and isinstance(value, dict):
                value = merge_settings(values[key], value)
            values[key] = value
        return TrainConfig.from_dict(values)


def merge_settings(base: dict, extra: dict) -> dict:
    """``base`` updated by ``extra``, nested dicts merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged


def as_plain_settings(values):
    """``values`` as they read back from JSON (tuples as lists, other objects as strings),
    so that settings compare equal to the ones saved in a results folder."""
    return json.loads(json.dumps(values, default=str))


def read_config_file(path: str) -> dict:
    """The mapping in a ``.yaml`` / ``.yml`` or ``.json`` config file, unchecked."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    with open(path) as f:
        text = f.read()
    is_yaml = path.endswith((".yaml", ".yml"))
    try:
        values = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValueError(f"config file {path!r} is not valid {'YAML' if is_yaml else 'JSON'}: "
                         f"{error}")
    if not isinstance(values, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of keys to values")
    return values


def load_config(path: str) -> TrainConfig:
    """Read a config from a ``.yaml`` / ``.yml`` or ``.json`` file."""
    values = read_config_file(path)
    try:
        return TrainConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"config file {path!r}: {error}") from None


def save_config(config: TrainConfig, path: str, extra: dict | None = None):
    """Write ``config`` (plus ``extra`` keys, e.g. the resolved groups) as YAML or JSON."""
    values = config.to_dict()
    if extra:
        values = {**values, **extra}
    if path.endswith((".yaml", ".yml")):
        write_text(path, yaml.safe_dump(values, sort_keys=False))
    else:
        write_json(path, values)
