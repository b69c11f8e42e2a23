"""Write an evaluation's ``metrics.json`` and ``report.md``."""

from __future__ import annotations

import math
import os

from minape_tf.evaluation.metrics import ADAPTED, SUMMARY_KEYS
from minape_tf.outputs.atomic import write_json, write_text


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_metrics(metrics: dict, path: str):
    """``metrics`` as JSON (``NaN`` written as ``null``)."""
    write_json(path, _clean(metrics))


def _fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_line(metrics: dict) -> str:
    """The headline numbers on one line, for the console."""
    values = {key: metrics[key] for key in SUMMARY_KEYS if key in metrics}
    return ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in values.items())


def group_lines(metrics: dict) -> list:
    """``name: accuracy (n)`` of each group of ``metrics["per_group"]``, the worst marked;
    empty when the data has no groups."""
    groups = metrics.get("per_group") or {}
    if not groups:
        return []
    adapted = {label: metrics.get(f"per_group_{key}") or {} for key, label in ADAPTED}
    worst = min(groups, key=lambda g: groups[g]["accuracy"])
    return [f"{name}: accuracy {row['accuracy']:.4f} ({row['n']})"
            + "".join(f", {label} {adapted[label][name]['accuracy']:.4f}"
                      for label in adapted if name in adapted[label])
            + (" <- worst" if name == worst and len(groups) > 1 else "")
            for name, row in groups.items()]


def write_report(metrics: dict, path: str, *, title="Evaluation", plots=(), skipped=(),
                 duplicates=()):
    """A Markdown report: summary, per-class table, confusion matrix, plots, skipped files,
    observations in more than one split (``duplicates``, described)."""
    lines = [f"# {title}", ""]
    context = [f"- {key}: {metrics[key]}" for key in ("run", "dataset", "split")
               if key in metrics]
    if metrics.get("machine"):
        machine = metrics["machine"]
        context.append(f"- latency measured on: {machine['cpu']}, {machine['isa']}, "
                       f"{machine['cores']} cores, load {machine['load_average']}")
    lines += context + ([""] if context else [])
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(metrics.get(key))} |" for key in SUMMARY_KEYS if key in metrics]
    lines += ["", "## Per class", "", "| class | precision | recall | F1 | AUC | support |",
              "|---|---|---|---|---|---|"]
    for name, row in metrics.get("per_class", {}).items():
        lines.append(f"| {name} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | "
                     f"{_fmt(row['f1'])} | {_fmt(row.get('auc'))} | {row['support']} |")
    if metrics.get("per_group"):
        adapted = [metrics.get(f"per_group_{key}") or {} for key, _ in ADAPTED]
        lines += ["", "## Per group", "",
                  "Adapted: with the group's own batch-norm statistics (and equalisation, "
                  "where the model has it), re-estimated on its observations without their "
                  "labels; self-trained: the model also "
                  "fine-tuned on them with its own most confident predictions as targets "
                  "(`minape_tf.adaptation`; n/a: not measured).", "",
                  "| group | accuracy | adapted | self-trained | n |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {_fmt(row['accuracy'])} | "
                  + "".join(f"{_fmt(a.get(name, {}).get('accuracy'))} | " for a in adapted)
                  + f"{row['n']} |" for name, row in metrics["per_group"].items()]
    classes = list(metrics.get("per_class", {}))
    matrix = metrics.get("confusion_matrix")
    if matrix:
        lines += ["", "## Confusion matrix (rows: true, columns: predicted)", "",
                  "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        lines += [f"| **{name}** | " + " | ".join(str(v) for v in row) + " |"
                  for name, row in zip(classes, matrix)]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{os.path.splitext(os.path.basename(p))[0]}]({os.path.basename(p)})"
                  for p in plots]
    if skipped:
        lines += ["", f"## Skipped observations ({len(skipped)})", ""]
        lines += [f"- `{item}`: {reason}" for item, reason in skipped]
    if duplicates:
        lines += ["", f"## Observations in more than one split ({len(duplicates)}; "
                      "allow_duplicates)", ""]
        lines += [f"- {line}" for line in duplicates]
    write_text(path, "\n".join(lines) + "\n")
