"""``train_and_evaluate``: one training run, then its evaluation on the test split."""

from __future__ import annotations

from minape_tf.evaluation.evaluate import evaluate_training
from minape_tf.outputs.lock import holds_lock
from minape_tf.outputs.run_folder import RunFolder
from minape_tf.training.run import RunResult, train


NOT_EVALUATED = ("not evaluated: the data has no test split (give the manifest a 'split' "
                 "column, or more observations per class)")


@holds_lock()
def train_and_evaluate(config=None, out_dir="runs/run", *, evaluate=True, latency=True,
                       self_training="off", **train_options) -> RunResult:
    """``train`` (see :func:`minape_tf.training.train` for ``config``, ``out_dir`` and
    ``train_options``), then, with ``evaluate``, :func:`minape_tf.evaluation.evaluate_training`:
    ``metrics.json``, ``report.md`` and the plots in the run folder, and
    ``result.metrics``.

    Parameters
    ----------
    evaluate : bool, default True
        Evaluate the saved model on the test split; without one, ``run.json``'s
        ``evaluation`` says so (:data:`NOT_EVALUATED`) and ``result.metrics`` is ``None``.
    latency : bool, default True
        Measure CPU latency in that evaluation.
    self_training : {"off", "on", "balanced"}, default "off"
        Also evaluate with the model self-trained on each test group (no labels).
    """
    result = train(config, out_dir, **train_options)
    if evaluate and evaluate_training(result, latency=latency,
                                      self_training=self_training) is None:
        result.info["evaluation"] = NOT_EVALUATED      # said in run.json, not left to guess
        RunFolder(result.out_dir).write_info(result.info)
        train_options.get("log", print)(f"{result.out_dir}: {NOT_EVALUATED}")
    return result
