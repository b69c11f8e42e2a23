"""Choosing the numeric precision and XLA for the machine at hand."""

from __future__ import annotations

import tensorflow as tf


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str = "auto") -> str:
    """The Keras dtype policy: ``auto`` is mixed_float16 on a GPU and float32 on a CPU
    (CPUs gain nothing from float16 and lose accuracy)."""
    if precision == "auto":
        return "mixed_float16" if has_gpu() else "float32"
    return precision


def resolve_jit(jit_compile="auto") -> bool:
    """XLA on or off (``jit_compile`` "auto", "on" or "off"): ``auto`` turns it on with a
    GPU only: on a CPU it adds compile time without making the steps faster
    (``scripts/bench_cpu.py`` measures it)."""
    if jit_compile == "auto":
        return has_gpu()
    return jit_compile == "on"
