"""Evaluation: metrics, latency, reports and plots of a model or a run folder."""

from minape_tf.evaluation.evaluate import evaluate_model, evaluate_run, evaluate_training
from minape_tf.evaluation.latency import latency_ms
from minape_tf.evaluation.metrics import classification_metrics

__all__ = ["evaluate_model", "evaluate_run", "evaluate_training", "latency_ms",
           "classification_metrics"]
