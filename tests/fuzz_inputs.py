"""The fuzzed input battery at scale: thousands of generated cases through the real loaders.

The same strategies and oracles as ``tests/test_fuzz_inputs.py`` (``tests/fuzz_strategies.py``):
half the cases are columns of generated files (series of any dtype, rank and length, NaN /
Inf, empty; WAVs of any rate, encoding and channel count, truncated; images of any mode
and bit depth, truncated, zero-sized), a quarter generated manifests, a quarter in-memory
arrays. Each case either loads with its documented meaning or is refused naming the file
and the problem; anything else is a failure, listed with its case. Prints JSON (cases run,
loaded, partly loaded, refused, failures, seconds, the machine) and writes it to ``--out``.

    python tests/fuzz_inputs.py [--examples 5000] [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]

BATTERIES = (("files", 2), ("manifests", 1), ("arrays", 1))   # name, share of the cases


def inputs_of(case):
    """How many files or arrays a case generates."""
    import fuzz_strategies as fz

    if isinstance(case, fz.FileCase):
        return sum(len(row) for row in case.specs)
    if isinstance(case, fz.ManifestCase):
        return sum(len(cells) for _, cells, *_ in case.rows)
    return len(case.arrays)


def run_battery(name, examples, seed, failures, keep):
    """Run ``examples`` cases of one battery; returns its counts."""
    import fuzz_strategies as fz

    strategy = {"files": fz.file_cases, "manifests": fz.manifest_cases,
                "arrays": fz.array_cases}[name]()
    counts = {"cases": 0, "inputs": 0, "loaded": 0, "partial": 0, "refused": 0,
              "failures": 0}

    def run(case):
        counts["inputs"] += inputs_of(case)
        return fz.run_case(case)

    return play(name, strategy, run, counts, examples, seed, failures, keep, fz.Failure)


def play(name, strategy, run, counts, examples, seed, failures, keep, failure_type):
    """``examples`` cases of ``strategy`` (seeded, generated only), each through
    ``run(case)``, which returns the name of its outcome in ``counts``; a ``failure_type``
    raised, or any other exception (a traceback), is a failure, the first ``keep`` of them
    listed in ``failures``. Returns ``counts`` with ``seconds``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case):
        counts["cases"] += 1
        try:
            counts[run(case)] += 1
        except failure_type as failure:
            counts["failures"] += 1
            if len(failures) < keep:
                failures.append(f"{name}: {failure}; case {case!r}")
        except Exception as exc:  # noqa: BLE001 - a harness error is a failure too
            counts["failures"] += 1
            if len(failures) < keep:
                failures.append(f"{name}: harness: {''.join(traceback.format_exception(exc))}"
                                f"case {case!r}")

    start = time.perf_counter()
    check()
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return counts


def machine():
    import hypothesis
    import numpy as np
    import PIL
    import soundfile as sf
    import tensorflow as tf

    return {"node": platform.node(), "system": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
            "libsndfile": sf.__libsndfile_version__, "hypothesis": hypothesis.__version__}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="cases in all")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed")
    parser.add_argument("--keep", type=int, default=20, help="failures listed in full")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "scripts" / "results" / "fuzz_inputs_cpu.json")
    args = parser.parse_args(argv)
    shares = sum(share for _, share in BATTERIES)
    failures, batteries, start = [], {}, time.perf_counter()
    for name, share in BATTERIES:
        batteries[name] = run_battery(name, args.examples * share // shares, args.seed,
                                      failures, args.keep)
        print(f"{name}: {json.dumps(batteries[name])}", file=sys.stderr, flush=True)
    return report("tests/fuzz_inputs.py", argv, args, batteries, start, machine(), failures)


def report(script, argv, args, batteries, start, machine, failures) -> int:
    """Print a battery run's JSON (totals, batteries, the machine, the failing cases),
    write it to ``args.out``; the exit status (1 when a case failed)."""
    keys = [k for k in next(iter(batteries.values())) if k != "seconds"]
    total = {key: sum(b[key] for b in batteries.values()) for key in keys}
    result = {"command": f"python {script} " + " ".join(argv or sys.argv[1:]),
              "seed": args.seed, **total, "seconds": round(time.perf_counter() - start, 1),
              "batteries": batteries, "machine": machine, "failure_cases": failures}
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    return 1 if total["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
