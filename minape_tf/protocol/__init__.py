"""The paper's protocol: fold rotation, trials, ablations, results tables, the demo."""

from minape_tf.protocol.ablations import ABLATIONS, variants
from minape_tf.protocol.cv import cross_validate
from minape_tf.protocol.demo import run_demo
from minape_tf.protocol.folds import assign_folds, rotation, trial_seeds
from minape_tf.protocol.train_evaluate import train_and_evaluate

__all__ = ["ABLATIONS", "variants", "cross_validate", "run_demo", "assign_folds", "rotation",
           "train_and_evaluate", "trial_seeds"]
