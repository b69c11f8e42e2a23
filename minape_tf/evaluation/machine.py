"""The machine a speed figure was measured on: CPU model, instruction set, cores and load.

Which kernels XNNPACK and oneDNN run depends on the instruction set (AVX-512, AVX2, NEON),
so a latency means little without it: every benchmark, ``minape bench`` and ``metrics.json``
name it with :func:`describe`.
"""

from __future__ import annotations

import os
import platform

# The widest vector extension first: the first one the CPU has names its class.
_ISAS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"),
         ("asimd", "NEON"), ("neon", "NEON"))


def _cpuinfo() -> tuple:
    """``(model name, set of flags)`` from ``/proc/cpuinfo`` (empty where there is none)."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not model:
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags |= set(value.split())
    except OSError:
        pass
    return model, flags


def instruction_set(flags=None) -> str:
    """The widest SIMD extension among the CPU's ``flags``: "AVX-512", "AVX2", "NEON"..."""
    if flags is None:
        flags = _cpuinfo()[1]
    for flag, name in _ISAS:
        if flag in flags:
            return name
    return "NEON" if platform.machine() in ("arm64", "aarch64") else "unknown"


def describe() -> dict:
    """``cpu`` (model), ``isa``, ``cores``, ``load_average`` (1 minute, where known) and
    ``platform``: what a speed figure is to be read with."""
    model, flags = _cpuinfo()
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"cpu": model or platform.processor() or platform.machine(),
            "isa": instruction_set(flags), "cores": os.cpu_count(), "load_average": load,
            "platform": platform.platform()}


def label(machine=None) -> str:
    """One line for a table's caption: ``"AMD EPYC, AVX-512, 2 cores"``."""
    machine = machine or describe()
    return f"{machine['cpu']}, {machine['isa']}, {machine['cores']} cores"
