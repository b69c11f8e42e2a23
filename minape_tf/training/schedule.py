"""Learning-rate schedule: linear warm-up, then cosine decay (timm's recipe, paper Sec. 4.1)."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="minape_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Rise linearly from 0 to ``peak`` over ``warmup_steps``, then follow a half cosine
    down to ``floor`` at ``total_steps`` (and stay there).

    Parameters
    ----------
    peak : float
        Learning rate at the end of the warm-up (paper: 1e-3).
    total_steps : int
        Optimizer steps of the whole run.
    warmup_steps : int, default 0
        Steps of the linear warm-up.
    floor : float, default 0.0
        Learning rate at the end of the cosine.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, floor=0.0):
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(max(int(warmup_steps), 0), self.total_steps)
        self.floor = float(floor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.floor + 0.5 * (self.peak - self.floor) * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "floor": self.floor}
