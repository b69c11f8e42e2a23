"""``minape bench models|pipeline``: the benchmarks' own command lines."""

from __future__ import annotations

import argparse


def cmd_bench(args, config):
    """``minape bench models|pipeline [FLAGS]``: the benchmark's own ``main`` with FLAGS."""
    if args.what == "models":
        from minape_tf.bench.model_speed import main as bench
    else:
        from minape_tf.bench.pipeline_speed import main as bench
    return bench(args.rest)


def bench_command(sub):
    """``bench``."""
    p = sub.add_parser("bench", help="benchmarks: models (Minape against the paper's "
                                     "baselines, Table 3) or pipeline (make_dataset against "
                                     "a librosa loop); print JSON / Markdown")
    p.add_argument("what", choices=("models", "pipeline"))
    p.add_argument("rest", nargs=argparse.REMAINDER,
                   help="the benchmark's own flags (e.g. minape bench models --json out.json; "
                        "minape bench models --help lists them)")
    p.set_defaults(handler=cmd_bench)
