"""``tune``: a keras-tuner search over Minape's width, depth, kernel and patch size.

As the official code did, a search draws ``build_minape`` arguments from a search space,
trains each candidate as ``train`` would (same input pipeline, AdamW with warm-up and cosine
decay, label smoothing, batch-norm re-estimation before each validation) and keeps the
candidate with the best validation accuracy. The result is ``OUT/best.json``; keras-tuner's
own state (one folder per trial) is under ``OUT/search/``, and running the same command
again with the same ``OUT`` resumes the search.

Search space
------------
:data:`DEFAULT_SEARCH_SPACE`: ``width`` in {128, 192, 256}, ``depth`` in {4, 8, 12, 16},
``kernel_size`` in {5, 7, 9, 13} (the paper's ranges, Section 4.2) and ``patch_size`` among
:data:`PATCH_CANDIDATES` that fit every group's input (an image side, a spectrogram's
frames and mels). A ``search_space`` dict replaces entries or adds any other
``build_minape`` argument; a value is

* a list: the choices (``keras_tuner`` ``hp.Choice``), e.g. ``"fusion": ["concat", "add"]``;
* a dict ``{"min": a, "max": b, "step": s}``: integers from a to b (``hp.Int``);
* ``None``: leave the argument out of the search (the preset / config value is used);
* anything else: a fixed value.

Distributed search (keras-tuner's chief / worker mode)
------------------------------------------------------
Start the same ``minape tune ...`` command, with the same ``--out``, once as the chief
(which only hands out trials and records their results) and once per worker (which train):

=========================  ======================================================
``KERASTUNER_TUNER_ID``    ``chief`` for the chief; ``tuner0``, ``tuner1``, ... for workers
``KERASTUNER_ORACLE_IP``   the chief's address (the same for every process)
``KERASTUNER_ORACLE_PORT`` a free port on the chief (the same for every process)
=========================  ======================================================

::

    export KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  minape tune --dataset demo --max-trials 20 --out search &
    KERASTUNER_TUNER_ID=tuner0 minape tune --dataset demo --max-trials 20 --out search &
    KERASTUNER_TUNER_ID=tuner1 minape tune --dataset demo --max-trials 20 --out search

The chief writes ``best.json`` when the search ends; workers return ``None``. It needs
``grpcio`` (``pip install grpcio``). Each worker may itself train on several GPUs
(``strategy``; ``minape tune --strategy mirrored``).
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import keras_tuner

from minape_tf.models.minape import check_patch_fits
from minape_tf.models.registry import builder_arguments
from minape_tf.outputs.atomic import write_json
from minape_tf.outputs.lock import holds_lock
from minape_tf.outputs.ownership import claim
from minape_tf.outputs.run_folder import check_folder_settings
from minape_tf.training.config import as_plain_settings
from minape_tf.training.seeding import seeded
from minape_tf.training.setup import as_config, prepare_run

ALGORITHMS = ("random", "hyperband")
PATCH_CANDIDATES = (2, 4, 8, 12, 16)
DEFAULT_SEARCH_SPACE = {
    "width": [128, 192, 256],
    "depth": {"min": 4, "max": 16, "step": 4},
    "kernel_size": [5, 7, 9, 13],
    "patch_size": "fitting",      # the PATCH_CANDIDATES that fit every group
}


class MinapeHyperModel(keras_tuner.HyperModel):
    """Builds, compiles and fits a model for one set of hyperparameters, as ``train`` does.

    Parameters
    ----------
    setup : RunSetup
        The run setup (data, optimiser settings, steps, precision, XLA, batch-norm mode).
    search_space : dict
        Argument name -> choices (see the module docstring); already resolved, so no
        ``"fitting"`` and no ``None``.
    """

    def __init__(self, setup, search_space):
        super().__init__(name="minape")
        self.setup, self.search_space = setup, dict(search_space)

    def build(self, hp):
        return self.setup.compile(self.setup.build({
            name: _hyperparameter(hp, name, spec) for name, spec in self.search_space.items()}))

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        # the data comes from the setup, not from search(): keras-tuner deep-copies the
        # search's arguments, and a tf.data.Dataset cannot be deep-copied
        passed = {k: v for k, v in kwargs.items() if k in ("epochs", "initial_epoch", "verbose")}
        return self.setup.fit(model, callbacks=[*self.setup.bn_callbacks(), *(callbacks or [])],
                              **passed)


@holds_lock(when=lambda arguments: "KERASTUNER_ORACLE_IP" not in os.environ)
def tune(config=None, out_dir="runs/tune", *, algorithm="random", max_trials=10,
         executions_per_trial=1, search_space=None, loaded=None, strategy=None,
         hyperband_factor=3, overwrite=False):
    """Search Minape's hyperparameters on a data set; write ``out_dir/best.json``.

    Parameters
    ----------
    config : TrainConfig, dict or None, default None
        Data, optimisation and the fixed model arguments (``preset``, ``model``) as for
        ``train``; ``None``: all defaults (the demo data set). ``epochs`` (or the epochs that
        ``steps`` takes) is the epochs of each trial (Hyperband: of the longest trials),
        ``early_stopping`` is not used.
    out_dir : path, default "runs/tune"
        ``best.json``, ``tune.json`` (the search's settings) and keras-tuner's state
        (``search/``); an unfinished search of the same settings there is resumed, one of
        other settings refused (``ValueError`` naming the differences). A search that is
        not distributed holds the folder's lock (:mod:`minape_tf.outputs.lock`); the chief
        and workers of a distributed one share it.
    algorithm : {"random", "hyperband"}, default "random"
        ``keras_tuner.RandomSearch`` or ``keras_tuner.Hyperband``.
    max_trials : int, default 10
        Candidates to try (random search). Hyperband sizes itself from the epochs and
        ``hyperband_factor`` and ignores it.
    executions_per_trial : int, default 1
        Trainings per candidate (the score is their mean): more is less noisy.
    search_space : dict or None, default None
        Changes to :data:`DEFAULT_SEARCH_SPACE` (see the module docstring).
    loaded : Loaded or None, default None
        Data already loaded (``config.dataset`` is then only recorded).
    strategy : tf.distribute.Strategy or None, default None
        Each trial trains under it (``minape_tf.training.distribute.make_strategy``).
    hyperband_factor : int, default 3
        Hyperband's reduction factor (at least 2).
    overwrite : bool, default False
        Start afresh instead of resuming a search in ``out_dir``.

    Returns
    -------
    dict or None
        The best hyperparameters (``{"width": 192, "depth": 8, ...}``); ``None`` on a
        distributed-search worker (the chief writes ``best.json``).

    Raises
    ------
    ValueError
        For an unknown ``algorithm``, a bad ``max_trials`` / ``executions_per_trial`` /
        ``hyperband_factor``, an unknown or malformed ``search_space`` entry, no patch
        size that fits the inputs, or a folder holding a search of other settings.
    """
    config = as_config(config)
    _check_arguments(algorithm, max_trials, executions_per_trial, hyperband_factor)
    out_dir = os.fspath(out_dir)
    settings = as_plain_settings({
        "config": config.fingerprint(), "algorithm": algorithm, "max_trials": max_trials,
        "executions_per_trial": executions_per_trial, "hyperband_factor": hyperband_factor,
        "search_space": search_space})
    claim(out_dir, "tune.json")
    overwrite = check_folder_settings(
        os.path.join(out_dir, "tune.json"), settings, overwrite, "a search",
        "pass overwrite=True to start afresh, or choose another folder")
    with seeded(config.seed):
        setup = prepare_run(config, loaded=loaded, strategy=strategy)
        space = resolve_search_space(search_space, setup.groups)
        setup.model_kwargs = {k: v for k, v in setup.model_kwargs.items() if k not in space}
        objective = "val_accuracy"
        if setup.val_source is None:
            warnings.warn(f"{config.dataset}: no validation split; the search scores "
                          "candidates by their training accuracy instead")
            objective = "accuracy"
        os.makedirs(out_dir, exist_ok=True)
        write_json(os.path.join(out_dir, "tune.json"), settings)
        tuner = _make_tuner(algorithm, MinapeHyperModel(setup, space), objective, out_dir,
                            config, max_trials=max_trials,
                            executions_per_trial=executions_per_trial, strategy=strategy,
                            factor=hyperband_factor, overwrite=overwrite,
                            epochs=setup.epochs)
        tuner.search(epochs=setup.epochs, verbose=config.verbose)
    if is_distributed_worker():
        return None
    return _write_best(tuner, out_dir, objective, algorithm, setup, space)


def _write_best(tuner, out_dir, objective, algorithm, setup, space):
    best = [t for t in tuner.oracle.get_best_trials(1) if t.score is not None]
    if not best:
        raise RuntimeError(f"the search in {out_dir} completed no trial; every trial failed "
                           "(keras-tuner printed their errors above)")
    trial = best[0]
    values = {k: v for k, v in trial.hyperparameters.values.items()
              if not k.startswith("tuner/")}
    write_json(os.path.join(out_dir, "best.json"), {
        "hyperparameters": values, objective: trial.score, "objective": objective,
        "trial_id": trial.trial_id, "algorithm": algorithm,
        "trials": len(tuner.oracle.trials), "model_kwargs": {**setup.model_kwargs, **values},
        "search_space": space, "dataset": setup.config.dataset,
        "config": setup.config.to_dict()})
    return values


def resolve_search_space(search_space, groups) -> dict:
    """:data:`DEFAULT_SEARCH_SPACE` updated with ``search_space``, ``"fitting"`` patch sizes
    resolved for ``groups`` and ``None`` entries removed.

    Raises
    ------
    ValueError
        An entry that is not a ``build_minape`` argument, a malformed range, an empty list,
        or no patch size that fits.
    """
    allowed = {a.name for a in builder_arguments("minape")}
    space = {**DEFAULT_SEARCH_SPACE, **dict(search_space or {})}
    unknown = sorted(set(space) - allowed)
    if unknown:
        raise ValueError(f"search_space: {unknown} are not build_minape arguments; "
                         f"expected some of {sorted(allowed)}")
    resolved = {}
    for name, spec in space.items():
        if spec is None:
            continue
        if spec == "fitting":
            if name != "patch_size":
                raise ValueError(f"search_space[{name!r}]='fitting' is for patch_size only")
            spec = [p for p in PATCH_CANDIDATES if _fits(check_patch_fits, groups, p)]
            if not spec:
                raise ValueError(f"search_space['patch_size']: none of {PATCH_CANDIDATES} "
                                 f"fits the inputs of {[g.name for g in groups]}; give "
                                 "the patch sizes yourself")
        _check_spec(name, spec)
        resolved[name] = list(spec) if isinstance(spec, tuple) else spec
    return resolved


def is_distributed_worker() -> bool:
    """Whether this process is a worker (not the chief) of a distributed search."""
    return ("KERASTUNER_ORACLE_IP" in os.environ
            and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", ""))


def _make_tuner(algorithm, hypermodel, objective, out_dir, config, *, max_trials,
                executions_per_trial, strategy, factor, overwrite, epochs):
    common = dict(objective=keras_tuner.Objective(objective, direction="max"),
                  executions_per_trial=executions_per_trial, seed=config.seed,
                  directory=out_dir, project_name="search", overwrite=overwrite,
                  distribution_strategy=strategy)
    if algorithm == "random":
        return _RandomSearch(hypermodel, max_trials=max_trials, **common)
    return _Hyperband(hypermodel, max_epochs=epochs, factor=factor, **common)


class _OptionalTensorBoard:
    """keras-tuner 1.4 imports ``tensorboard`` for every trial under TensorFlow, and the trial
    fails without it; it is only needed to label TensorBoard callbacks, which ``tune`` does
    not add. Skip that step when ``tensorboard`` is not installed."""

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if importlib.util.find_spec("tensorboard") is None:
            return
        super()._configure_tensorboard_dir(callbacks, trial, execution)


class _RandomSearch(_OptionalTensorBoard, keras_tuner.RandomSearch):
    pass


class _Hyperband(_OptionalTensorBoard, keras_tuner.Hyperband):
    pass


def _hyperparameter(hp, name, spec):
    if isinstance(spec, dict):
        return hp.Int(name, spec["min"], spec["max"], step=spec.get("step", 1))
    if isinstance(spec, list):
        return hp.Choice(name, spec) if len(spec) > 1 else hp.Fixed(name, spec[0])
    return hp.Fixed(name, spec)


def _check_spec(name, spec):
    if isinstance(spec, dict):
        keys = set(spec)
        if not {"min", "max"} <= keys <= {"min", "max", "step"} or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in spec.values()) \
                or spec["min"] > spec["max"] or spec.get("step", 1) < 1:
            raise ValueError(f"search_space[{name!r}]={spec!r}; expected {{'min': a, 'max': "
                             "b, 'step': s}} with integers a <= b and s >= 1 (step optional)")
    elif isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError(f"search_space[{name!r}]=[]: expected at least one choice")
        if len({type(v) for v in spec}) > 1:
            raise ValueError(f"search_space[{name!r}]={list(spec)!r}: the choices must be of "
                             "one type")
        if not all(isinstance(v, (int, float, str, bool)) for v in spec):
            raise ValueError(f"search_space[{name!r}]={list(spec)!r}: choices must be "
                             "numbers, strings or booleans")


def _fits(check, groups, patch):
    try:
        for group in groups:
            check(group, patch)
    except ValueError:
        return False
    return True


def _check_arguments(algorithm, max_trials, executions_per_trial, factor):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not known; expected one of {ALGORITHMS}")
    for name, value, minimum in (("max_trials", max_trials, 1),
                                 ("executions_per_trial", executions_per_trial, 1),
                                 ("hyperband_factor", factor, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
