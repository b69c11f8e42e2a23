"""The run setup: one place that turns a config and a data set into everything a training
needs, for ``train``, ``tune``, ``cross_validate`` and the demo alike.

:func:`check_config` validates the model arguments before any data is read (an unknown
fusion or ``width=0`` is refused at once, not after loading the data set);
:func:`prepare_run` then loads the data and resolves groups, classes, splits, steps,
precision, XLA and the batch-norm mode into a :class:`RunSetup`, which builds, compiles
and fits models and makes the datasets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import sys
import warnings

import keras
import tensorflow as tf

from minape_tf.models.inputs import ModelInputs, model_dataset
from minape_tf.models.registry import BUILDERS, build_model, groups_read_by
from minape_tf.data.augment import SeriesAugmentation
from minape_tf.data.leakage import check_duplicates
from minape_tf.data.registry import load_dataset, select_groups
from minape_tf.data.series_settings import MODEL_SETTINGS, describe
from minape_tf.data.validate import check_split_classes
from minape_tf.groups import ImageGroup, SeriesGroup
from minape_tf.training.callbacks import BatchNormReestimation
from minape_tf.training.config import DEFAULT_EPOCHS, TrainConfig
from minape_tf.training.mixing import mix_batch
from minape_tf.training.precision import resolve_jit, resolve_precision, resolve_threads
from minape_tf.training.schedule import WarmupCosine

BN_EPOCH_MAX_STEPS = 200


def progress(verbose):
    """Keras's ``verbose`` for ``config.verbose``: "auto" is the progress bar on a terminal
    and one line per epoch otherwise (a log file gets no carriage-return updates)."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return verbose


def as_config(config) -> TrainConfig:
    """A ``TrainConfig`` from ``None`` (all defaults), a dict or a ``TrainConfig``."""
    if config is None:
        return TrainConfig()
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    raise TypeError(f"config: expected a TrainConfig or dict, got {type(config).__name__}")


def build_configured(config, groups, num_classes, kwargs=None, policy="float32",
                     class_names=None):
    """The configured builder's model for ``groups`` under the dtype ``policy``.

    The only place where a precision policy is applied: it is given to the builder
    (``dtype=``), which gives it to every layer, so no global policy is set or left behind.
    ``class_names`` are kept in the model's config."""
    kwargs = config.model_arguments() if kwargs is None else kwargs
    return build_model(config.architecture, groups, num_classes, dtype=policy,
                       class_names=class_names, **kwargs)


def check_config(config) -> dict:
    """Validate ``config``'s model arguments without data: build the model once on small
    stand-in groups (:func:`_probe_groups`). Returns the builder's keyword arguments.

    Python's random state, from which Keras draws its initialisers' seeds, is put back
    afterwards: the check leaves a seeded run's weights as they would be without it.

    Raises
    ------
    ValueError
        Naming the argument and what is allowed (from the builder's own checks).
    """
    SeriesAugmentation.make(config.augmentation)  # raises naming a wrong key or value
    kwargs = config.model_arguments()
    probe = _probe_groups(config.architecture, kwargs)
    state = random.getstate()
    try:
        build_configured(config, probe, 2, kwargs)
    finally:
        random.setstate(state)
    return kwargs


def _probe_groups(architecture, kwargs):
    """Small stand-in groups of the kind the model reads: two images (any valid patch fits
    them), or for a model of raw series only (TCN) one short series."""
    if BUILDERS[architecture].reads == "raw series":
        return [SeriesGroup("probe_0", channels=1, sample_rate=1000, length=1024, n_fft=256,
                            hop=128, n_mels=16)]
    patch = kwargs.get("patch_size")
    side = patch if isinstance(patch, int) and patch > 64 else 64
    return [ImageGroup(f"probe_{i}", channels=1, size=(side, side)) for i in (0, 1)]


def split_sources(loaded, groups, dataset="data"):
    """The training and validation ``Source`` s of ``loaded`` for ``groups``; the validation
    one is ``None`` when its split is empty. An empty training split is an error."""
    splits = loaded.splits
    train_src = loaded.source.subset(splits["train"], groups)
    val_index = splits.get("val", [])
    val_src = loaded.source.subset(val_index, groups) if len(val_index) else None
    if len(train_src) == 0:
        raise ValueError(f"{dataset}: the training split is empty")
    return train_src, val_src


def _one_hot(num_classes):
    def convert(x, y):
        return x, tf.one_hot(y, num_classes)
    return convert


@dataclasses.dataclass
class RunSetup:
    """Everything resolved for one training: see :func:`prepare_run`.

    Attributes
    ----------
    config : TrainConfig
    loaded : Loaded
        The whole data set (all splits).
    groups : list
        The groups the model reads (``config.modalities``, ``config.groups`` applied).
    classes : list of str
    model_kwargs : dict
        The builder's arguments (preset, then ``config.model``).
    train_source, val_source : Source, Source or None
    monitor : str
        The quantity that selects the best epoch (``val_`` dropped without validation).
    policy : str
        The dtype policy of the trained model.
    jit : bool
    strategy : tf.distribute.Strategy or None
    steps : int
        Steps of one epoch.
    bn_mode : {"epoch", "end", "off"}
    duplicates : list of str
        The observations found in more than one split, described, when
        ``config.allow_duplicates`` let the run go on (:mod:`minape_tf.data.leakage`).
    threads : int
        TensorFlow's intra-op threads (0: one per core;
        :func:`minape_tf.training.precision.resolve_threads`).
    """

    config: TrainConfig
    loaded: object
    groups: list
    classes: list
    model_kwargs: dict
    train_source: object
    val_source: object
    monitor: str
    policy: str
    jit: bool
    strategy: object
    steps: int
    bn_mode: str
    duplicates: list = dataclasses.field(default_factory=list)
    threads: int = 0
    _datasets: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    @property
    def full_batches(self) -> bool:
        """Whether training takes full batches only (:meth:`train_data`): when the training
        split holds at least one batch."""
        return len(self.train_source) >= self.config.batch_size

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run: ``config.steps``, else ``config.epochs`` (or
        ``DEFAULT_EPOCHS``) epochs."""
        return self.config.steps or self.steps * (self.config.epochs or DEFAULT_EPOCHS)

    @property
    def min_epochs(self) -> int:
        """Epochs before which early stopping does not end the run (``config.min_steps``)."""
        return math.ceil(self.config.min_steps / self.steps)

    @property
    def epochs(self) -> int:
        """Epochs of the run (the last one cut short when ``config.steps`` ends inside it)."""
        return math.ceil(self.total_steps / self.steps)

    def inferred_settings(self) -> list:
        """One line per series group whose settings were chosen from the data
        (:func:`minape_tf.data.series_settings.describe`)."""
        return [describe(g) for g in self.groups
                if isinstance(g, SeriesGroup) and g.inferred]

    @property
    def inputs(self) -> ModelInputs:
        """What the run's model reads."""
        return ModelInputs.of_arguments(self.groups, self.model_kwargs,
                                        self.config.architecture)

    def scope(self):
        """The strategy's scope (models are built and compiled in it), or a null context."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def test_source(self):
        """The test split's ``Source`` (``None`` when there is none)."""
        index = self.loaded.splits.get("test", [])
        return self.loaded.source.subset(index, self.groups) if len(index) else None

    def train_data(self, start_epoch=0):
        """The training batches, as one endless stream: the pipeline's shuffled, augmented
        batches (each pass over the data reshuffled), labels one-hot, MixUp / CutMix.

        ``fit`` takes ``steps`` batches from it per epoch. One stream (one iterator) for
        the whole run makes every random draw depend only on the seed and the position in
        the stream, so ``start_epoch`` (a resumed run) skips the batches of the finished
        epochs and the run continues with exactly the batches it would have seen. Each
        pass leaves out its last, partial batch (:attr:`full_batches`): the training step
        is then traced for one batch shape (a second shape costs seconds of tracing, a
        third run of ``minape train`` on ItalyPowerDemand's 67 observations), and with
        several replicas none gets an empty or uneven share of a batch; every pass is
        reshuffled, so no observation is left out for long."""
        config = self.config
        ds = model_dataset(self.train_source, self.inputs, training=True,
                           batch_size=config.batch_size, cache=config.cache,
                           augment=config.augment, augmentation=config.augmentation,
                           seed=config.seed, drop_remainder=self.full_batches).repeat()
        ds = ds.map(_one_hot(len(self.classes)))
        if config.mixup > 0 or config.cutmix > 0:
            seeds = tf.data.Dataset.random(seed=config.seed + 1).batch(2)

            def mix(xy, seed):
                return mix_batch(*xy, seed, mixup_alpha=config.mixup,
                                 cutmix_alpha=config.cutmix)

            ds = tf.data.Dataset.zip(ds, seeds).map(mix)
        if start_epoch:
            ds = ds.skip(start_epoch * self.steps)
        return ds.prefetch(tf.data.AUTOTUNE)

    def eval_data(self, source, *, one_hot=False, replicas=1):
        """Batches of ``source`` without augmentation, in order (labels as integers, or
        one-hot for ``fit``'s validation)."""
        batch = self.config.batch_size
        remainder = len(source) % batch
        if 0 < remainder < replicas:
            raise ValueError(f"batch_size={batch}: the last batch of the {len(source)} "
                             f"validation observations has {remainder}, fewer than the "
                             f"{replicas} replicas, and would leave a replica without data; "
                             "choose another batch size")
        ds = model_dataset(source, self.inputs, batch_size=batch, cache=self.config.cache)
        ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(len(source) / batch)))
        return ds.map(_one_hot(len(self.classes))) if one_hot else ds

    def val_data(self):
        """``fit``'s validation data (``None`` without a validation split); made once, so
        that its cached features serve every epoch, fit and trial."""
        if self.val_source is None:
            return None
        if "val" not in self._datasets:
            self._datasets["val"] = self.eval_data(self.val_source, one_hot=True,
                                                   replicas=self.replicas)
        return self._datasets["val"]

    def bn_data(self):
        """The training data without augmentation, for batch-norm re-estimation; made once."""
        if "bn" not in self._datasets:
            self._datasets["bn"] = self.eval_data(self.train_source)
        return self._datasets["bn"]

    def bn_callbacks(self) -> list:
        """Batch-norm re-estimation before every validation, when the mode asks for it."""
        if self.bn_mode == "epoch" and self.val_source is not None:
            return [BatchNormReestimation(self.bn_data())]
        return []

    def build(self, kwargs=None, policy=None):
        """The model (``kwargs`` over :attr:`model_kwargs`), under :attr:`policy`."""
        kwargs = self.model_kwargs if kwargs is None else {**self.model_kwargs, **kwargs}
        return build_configured(self.config, self.groups, len(self.classes), kwargs,
                           policy or self.policy, class_names=self.classes)

    def compile(self, model):
        """AdamW with warm-up and cosine decay, label smoothing, gradient clipping (paper
        Section 4.1); XLA as :attr:`jit` says. Returns the model to fit: ``model`` itself,
        or for an ensemble (``ensemble > 1``) a model of the same layers whose outputs are
        the members' probabilities, each with its own loss (weighted ``1 / members``), so
        that every member learns on its own, as if trained alone."""
        config = self.config
        schedule = WarmupCosine(config.learning_rate, self.total_steps,
                                round(config.warmup_epochs * self.steps),
                                config.min_learning_rate)
        optimizer = keras.optimizers.AdamW(learning_rate=schedule,
                                           weight_decay=config.weight_decay,
                                           global_clipnorm=config.clipnorm)
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        members = (model.member_outputs() if hasattr(model, "member_outputs") else
                   list(model.outputs))          # a model of members is compiled again
        trainee = model if len(members) == len(model.outputs) else keras.Model(
            model.inputs, members, name=f"{model.name}_members")
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        n = len(members)
        per_member = dict(loss=[loss] * n, loss_weights=[1 / n] * n,
                          metrics=[["accuracy"]] * n) if n > 1 else dict(
            loss=loss, metrics=["accuracy"])
        with self.scope():
            trainee.compile(optimizer=optimizer, jit_compile=self.jit, **per_member)
        return trainee

    def fit(self, model, *, start_epoch=0, callbacks=(), **kwargs):
        """``model.fit`` on :meth:`train_data` for :attr:`epochs`, stopping at
        ``config.steps`` optimizer steps when set; when XLA compilation fails before the
        first step, warn, recompile without XLA and fit again."""
        steps_done = _StepCounter()
        if self.config.steps:
            callbacks = [_StepBudget(self.config.steps), *callbacks]
        validation = self.val_data()
        arguments = {**dict(steps_per_epoch=self.steps, epochs=self.epochs,
                            validation_data=_per_output(validation, model),
                            verbose=progress(self.config.verbose),
                            shuffle=False), **kwargs}  # the pipeline shuffles, seeded
        try:
            return model.fit(_per_output(self.train_data(start_epoch), model),
                             callbacks=[*callbacks, steps_done], **arguments)
        except tf.errors.OpError as error:
            if not self.jit or steps_done.steps:
                raise
            warnings.warn(f"XLA compilation failed ({type(error).__name__}: "
                          f"{str(error).splitlines()[0][:200]}); training without jit_compile")
            self.jit = False
            self.compile(model)
            return model.fit(_per_output(self.train_data(start_epoch), model),
                             callbacks=list(callbacks), **arguments)


def _per_output(data, model):
    """``data``'s ``(x, y)`` batches with ``y`` once per output of ``model`` when it has
    several (the members of an ensemble: :meth:`RunSetup.compile`); ``data`` itself
    otherwise (and ``None`` for no data)."""
    outputs = len(model.outputs)
    if data is None or outputs == 1:
        return data
    return data.map(lambda x, y: (x, (y,) * outputs))


class _StepCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


class _StepBudget(keras.callbacks.Callback):
    """Stop training once the optimizer has made ``steps`` steps (Keras ends the epoch
    there, then validates it). Counts ``optimizer.iterations``, which a resumed run gets
    back from its backup."""

    def __init__(self, steps):
        super().__init__()
        self.budget = steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) >= self.budget:
            self.model.stop_training = True


def prepare_run(config=None, *, loaded=None, strategy=None) -> RunSetup:
    """Check ``config``, load its data and resolve everything a training needs.

    Parameters
    ----------
    config : TrainConfig, dict or None
    loaded : Loaded or None, default None
        Data already loaded (``config.dataset`` is then only recorded).
    strategy : tf.distribute.Strategy or None, default None

    Raises
    ------
    ValueError
        A bad model argument (before any data is read), an empty training split, a class
        in validation or test that training lacks, an observation in more than one split
        (unless ``config.allow_duplicates``), or a batch size the replicas cannot share.
    """
    config = as_config(config)
    threads = resolve_threads()              # before anything starts TensorFlow's runtime
    kwargs = check_config(config)
    policy, jit = resolve_precision(config.precision), resolve_jit(config.jit_compile)
    loaded = loaded or load_dataset(config.dataset, config.data_dir, seed=config.seed,
                                    **config.dataset_options)
    check_split_classes(loaded.source, loaded.splits, config.dataset)
    model = config.model_arguments()
    groups = groups_read_by(config.architecture, select_groups(
        loaded.groups, config.modalities, config.groups,
        model={k: model.get(k) for k in MODEL_SETTINGS}))
    duplicates = check_duplicates(loaded.source, loaded.splits, groups,
                                  allow=config.allow_duplicates, where=config.dataset)
    train_source, val_source = split_sources(loaded, groups, config.dataset)
    monitor = config.monitor
    if val_source is None and monitor.startswith("val_"):
        warnings.warn(f"{config.dataset}: no validation split; monitoring {monitor[4:]!r} on "
                      "the training data instead")
        monitor = monitor[4:]
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    n, batch = len(train_source), config.batch_size
    if replicas > 1 and (batch < replicas or n < batch):
        raise ValueError(f"batch_size={batch} with {replicas} replicas and {n} training "
                         "observations: need replicas <= batch_size <= training observations")
    steps = max(1, n // batch)                    # full batches only: train_data
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch)
    elif config.epochs is None and config.steps is None:   # small data: epochs of min_steps/30
        steps = max(steps, math.ceil(config.min_steps / DEFAULT_EPOCHS))
    bn_mode = config.bn_reestimate
    if bn_mode == "auto":
        bn_mode = "epoch" if steps <= BN_EPOCH_MAX_STEPS else "end"
    return RunSetup(config=config, loaded=loaded, groups=groups,
                    classes=list(loaded.source.classes), model_kwargs=kwargs,
                    train_source=train_source, val_source=val_source, monitor=monitor,
                    policy=policy, jit=jit, strategy=strategy, steps=steps, bn_mode=bn_mode,
                    duplicates=duplicates, threads=threads)
