"""Results tables in the paper's format (Tables 3 and 4), as Markdown and CSV."""

from __future__ import annotations

import csv
import math

import numpy as np

from minape_tf.evaluation.metrics import SUMMARY_KEYS
from minape_tf.outputs.atomic import atomic_path


def summarise(runs: list) -> dict:
    """Mean and standard deviation (``ddof=0``, over all runs) of every metric, ``nan``-safe.

    ``runs`` is a list of metric dicts (one per trial and fold)."""
    summary = {"n_runs": len(runs)}
    for key in SUMMARY_KEYS:
        values = np.array([r[key] for r in runs if r.get(key) is not None], float)
        values = values[np.isfinite(values)]
        summary[f"{key}_mean"] = float(values.mean()) if len(values) else float("nan")
        summary[f"{key}_std"] = float(values.std()) if len(values) else float("nan")
    return summary


def plus_minus(mean, std, scale=100.0, digits=1, n=None):
    """``mean +- std`` as a table cell (times ``scale``), "n/a" for a missing mean."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if n == 1:                                 # one run: no spread to report
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def number(value, digits):
    """``value`` with ``digits`` decimals as a table cell, "n/a" when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def param_count(value):
    """A parameter count as a table cell (``1.23M`` or ``45.6K``), "n/a" when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}K"


TABLE3_COLUMNS = ("Model", "Modality", "Fusion-Type", "ms/img", "Size(MB)", "Size+opt(MB)",
                  "#Params", "AUC", "Accuracy")
TABLE4_COLUMNS = ("Minape", "Fusion-Type", "Prime Learner", "ms/img", "Size(MB)", "Size+opt(MB)",
                  "#Param(M)", "Accuracy", "Δ(%)")


def table3_rows(rows: list) -> list:
    """Table 3's columns for rows ``{"model", "modality", "fusion", **summary}``:
    accuracy as mean ± std in percent, AUC as a mean, ms per image at batch 1 on the CPU;
    the size of the ``.keras`` file without and with optimizer state (the paper's sizes
    match the latter)."""
    out = []
    for r in rows:
        out.append({
            "Model": r.get("model", "Minape"), "Modality": r["modality"],
            "Fusion-Type": r.get("fusion", "-"),
            "ms/img": number(r["latency_ms_b1_mean"], 2), "Size(MB)": number(r["size_mb_mean"], 2),
            "Size+opt(MB)": number(r["size_mb_with_optimizer_mean"], 2),
            "#Params": param_count(r["params_mean"]), "AUC": number(r["auc_macro_mean"], 3),
            "Accuracy": plus_minus(r["accuracy_mean"], r["accuracy_std"], n=r.get("n_runs")),
        })
    return out


def table4_rows(rows: list, base: int = 0) -> list:
    """Table 4's columns; ``Δ(%)`` is each row's mean accuracy minus row ``base``'s, in
    percentage points."""
    reference = rows[base]["accuracy_mean"]
    out = []
    for r in rows:
        delta = (r["accuracy_mean"] - reference) * 100
        out.append({
            "Minape": r.get("label", ""), "Fusion-Type": r.get("fusion", "-"),
            "Prime Learner": r.get("learner", "×"),
            "ms/img": number(r["latency_ms_b1_mean"], 2), "Size(MB)": number(r["size_mb_mean"], 2),
            "Size+opt(MB)": number(r["size_mb_with_optimizer_mean"], 2),
            "#Param(M)": number(r["params_mean"] / 1e6, 3) if math.isfinite(r["params_mean"])
            else "n/a",
            "Accuracy": plus_minus(r["accuracy_mean"], r["accuracy_std"], n=r.get("n_runs")),
            "Δ(%)": "base" if r is rows[base] else (f"{delta:+.1f}" if math.isfinite(delta)
                                                   else "n/a"),
        })
    return out


GROUP_COLUMNS = ("Model", "Modality", "Fusion-Type", "Group", "n_test", "ms/img", "Size(MB)",
                 "#Params", "AUC", "Accuracy", "Adapted", "Self-trained")


def per_group(runs: list) -> dict:
    """Group name -> ``summarise`` of its runs (one per trial), in sorted name order;
    ``runs`` are metric dicts with a ``group`` key (leave-one-group-out)."""
    names = sorted({r["group"] for r in runs})
    return {name: summarise([r for r in runs if r["group"] == name]) for name in names}


def worst_group(runs: list) -> tuple:
    """``(name, mean accuracy)`` of the group with the lowest mean accuracy over its runs."""
    groups = per_group(runs)
    name = min(groups, key=lambda g: groups[g]["accuracy_mean"])
    return name, groups[name]["accuracy_mean"]


def group_rows(row: dict, runs: list) -> list:
    """The leave-one-group-out rows of one variant: one per group (accuracy mean ± std
    over its trials), then the mean over all runs (with the model's size and latency),
    then the worst group. ``row`` holds the variant's cells (``model``, ``modality``,
    ``fusion``) and its ``summarise`` over ``runs``. "Adapted" is the accuracy with each
    group's own batch-norm statistics, "Self-trained" with the model self-trained on the
    group (``minape_tf.adaptation``; n/a without)."""
    cells = {"Model": row.get("model", "Minape"), "Modality": row["modality"],
             "Fusion-Type": row.get("fusion", "-")}

    def line(group, s):
        return {**cells, "Group": group, "n_test": number(s["n_test_mean"], 0),
                "AUC": number(s["auc_macro_mean"], 3),
                "Accuracy": plus_minus(s["accuracy_mean"], s["accuracy_std"], n=s["n_runs"]),
                "Adapted": plus_minus(s["accuracy_adapted_mean"], s["accuracy_adapted_std"],
                               n=s["n_runs"]),
                "Self-trained": plus_minus(s["accuracy_self_trained_mean"],
                                    s["accuracy_self_trained_std"], n=s["n_runs"])}

    groups = per_group(runs)
    out = [line(name, s) for name, s in groups.items()]
    mean = line(f"mean of {len(groups)}", row)
    mean.update({"n_test": number(row["n_test_mean"], 1),
                 "ms/img": number(row["latency_ms_b1_mean"], 2),
                 "Size(MB)": number(row["size_mb_mean"], 2),
                 "#Params": param_count(row["params_mean"])})
    name, _ = worst_group(runs)
    return out + [mean, line(f"worst: {name}", groups[name])]


def markdown(rows: list, columns, title=None) -> str:
    """A Markdown table of ``rows`` (dicts) in ``columns`` order."""
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: list, path: str, columns=None):
    """``rows`` (dicts) as CSV; ``columns`` default to every key in first-seen order."""
    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns]
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
