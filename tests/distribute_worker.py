"""Train the tiny demo config of ``test_distribute`` under a strategy, in a fresh process.

    python tests/distribute_worker.py STRATEGY OUT_DIR EPOCHS [CPU_DEVICES]

The strategy is made first, before TensorFlow initialises its devices (logical CPUs and
the collective ops of ``multiworker`` must be set up then). Writes ``OUT_DIR/result.json``
(replicas, history) and ``OUT_DIR/weights.npz`` (the saved model's weights, in order).
"""

import json
import os
import sys

from minape_tf.training.distribute import make_strategy


def main(name, out_dir, epochs, cpu_devices=None):
    strategy = make_strategy(name, cpu_devices=int(cpu_devices) if cpu_devices else None)

    import numpy as np

    from minape_tf.training import TrainConfig, train

    # 3 tools x 8 runs train: 24 observations, 3 full batches of 8 (4 per replica)
    config = TrainConfig(dataset="demo", dataset_options={"n_tools": 5, "runs_per_tool": 8},
                         epochs=int(epochs), batch_size=8, early_stopping=0, verbose=2,
                         seed=3, model=dict(width=16, depth=1, patch_size=8, kernel_size=3))
    result = train(config, out_dir, strategy=strategy)
    np.savez(os.path.join(out_dir, "weights.npz"), *result.model.get_weights())
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump({"replicas": strategy.num_replicas_in_sync, "history": result.history,
                   "strategy": type(strategy).__name__}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
