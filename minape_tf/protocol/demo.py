"""``run_demo``: image-only, series-only and multimodal Minape on the embedded demo data,
trained, evaluated and compared in a Table-3-style table (``minape demo``)."""

from __future__ import annotations

import os
import time

from minape_tf.data.registry import load_dataset
from minape_tf.outputs.atomic import write_text
from minape_tf.outputs.ownership import entries
from minape_tf.protocol.ablations import variants
from minape_tf.protocol.tables import TABLE3_COLUMNS, markdown, summarise, table3_rows
from minape_tf.protocol.train_evaluate import train_and_evaluate
from minape_tf.training.config import TrainConfig

DEMO_MODEL = dict(width=32, depth=3, patch_size=8, kernel_size=5)


def demo_config(seed=0, epochs=20, verbose="auto"):
    """The demo's training configuration: a small Minape (width 32, depth 3, patch 8,
    kernel 5, about 26K parameters multimodal), 20 epochs, no early stopping."""
    return TrainConfig(dataset="demo", epochs=epochs, batch_size=32, warmup_epochs=1,
                       model=dict(DEMO_MODEL), early_stopping=0, seed=seed, verbose=verbose)


def run_demo(out_dir="minape-demo", *, seed=0, epochs=20, verbose="auto", log=print,
             overwrite=True) -> dict:
    """Train and evaluate the three Minape variants on ``demo(seed)``'s tool split.

    Parameters
    ----------
    out_dir : path, default "minape-demo"
        Gets one run folder per variant (image, series, multimodal) and ``table.md``.
    seed : int, default 0
        Fixes the generated data, its split and the training.
    epochs : int, default 20
    verbose : int or "auto", default "auto"
        Keras progress bars.
    log : callable, default print

    Returns
    -------
    dict
        ``{"rows": [...], "table": markdown, "wall_s": seconds}``.

    Raises
    ------
    FileExistsError
        ``out_dir`` is a file, or a folder holding anything but the demo's runs and table.
    """
    started = time.time()
    config = demo_config(seed, epochs, verbose)
    variant_list = variants("modalities", config)
    _check_out(out_dir, {v["name"] for v in variant_list} | {"table.md"})
    loaded = load_dataset("demo", seed=seed)
    n = {name: len(index) for name, index in loaded.splits.items()}
    log(f"Demo data: {len(loaded.source)} generated tool-wear observations of "
        f"{len(set(loaded.source.split_keys))} tools, classes {loaded.source.classes}; split by "
        f"tool into {n['train']} train / {n['val']} val / {n['test']} test")
    rows = []
    for i, variant in enumerate(variant_list, 1):
        log(f"\n[{i}/{len(variant_list)}] Minape ({variant['cells']['modality']}): "
            f"{variant['name']}")
        result = train_and_evaluate(config.updated(**variant["changes"]),
                                    os.path.join(out_dir, variant["name"]), loaded=loaded,
                                    overwrite=overwrite)
        metrics = result.metrics
        log(f"    test accuracy {metrics['accuracy']:.3f}, AUC {metrics['auc_macro']:.3f}, "
            f"{metrics['params']:,} parameters, {result.wall_s:.0f} s")
        rows.append({"model": "Minape", **variant["cells"], **summarise([metrics]),
                     "variant": variant["name"]})
    table = markdown(table3_rows(rows), TABLE3_COLUMNS,
                     title=f"Minape on the demo data (test split: {n['test']} observations "
                           f"of unseen tools; ms/img: CPU, batch 1)")
    write_text(os.path.join(out_dir, "table.md"), table)
    wall = time.time() - started
    log("\n" + table)
    log(f"Demo finished in {wall:.0f} s; runs and reports in {os.path.abspath(out_dir)}")
    return {"rows": rows, "table": table, "wall_s": wall}


def _check_out(out_dir, names):
    """Refuse an ``out_dir`` that holds files the demo does not write, naming them."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise FileExistsError(f"{out_dir} is a file, not a folder: choose another folder")
    foreign = [e for e in entries(out_dir) if e not in names] if os.path.isdir(out_dir) else []
    if foreign:
        raise FileExistsError(f"{out_dir} holds files the demo did not write "
                              f"({', '.join(foreign[:6])}); choose another folder")
