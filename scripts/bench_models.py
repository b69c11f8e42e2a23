"""Minape against the paper's baselines (Table 3's columns); see
``minape_tf.bench.model_speed`` (also ``minape bench models``).

    python scripts/bench_models.py [--models minape,vit,...] [--json PATH]
"""

from minape_tf.bench.model_speed import main

if __name__ == "__main__":
    raise SystemExit(main())
