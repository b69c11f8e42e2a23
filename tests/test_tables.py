"""Results tables in the paper's format, and the ablation variants."""

import math

from minape_tf.protocol.ablations import variants
from minape_tf.protocol.tables import (GROUP_COLUMNS, TABLE3_COLUMNS, TABLE4_COLUMNS,
                                       group_rows, markdown, summarise, table3_rows,
                                       table4_rows, worst_group)
from minape_tf.training.config import TrainConfig


def _runs(accuracies):
    return [{"accuracy": a, "auc_macro": 0.9, "f1_macro": 0.8, "latency_ms_b1": 2.0,
             "size_mb": 0.5, "size_mb_with_optimizer": 1.5,
             "params": 400_000, "n_test": 10} for a in accuracies]


def test_summary_is_mean_and_std_over_runs():
    s = summarise(_runs([0.9, 0.8, 1.0]))
    assert math.isclose(s["accuracy_mean"], 0.9) and math.isclose(s["accuracy_std"], 0.0816,
                                                                  abs_tol=1e-4)
    assert s["n_runs"] == 3


def test_table3_and_table4_formats():
    rows = [{"model": "Minape", "modality": m, "fusion": f, **summarise(_runs(acc))}
            for m, f, acc in (("i", "-", [0.9, 0.8]), ("m", "Concat", [0.95, 0.97]))]
    text = markdown(table3_rows(rows), TABLE3_COLUMNS)
    assert "| Minape | i | - | 2.00 | 0.50 | 1.50 | 0.40M | 0.900 | 85.0 ± 5.0 |" in text
    ablation = [{"label": "Base", "fusion": "Concat", "learner": "×", **summarise(_runs([0.9]))},
                {"label": "Fusion", "fusion": "Add", "learner": "×",
                 **summarise(_runs([0.85, 0.87]))}]
    cells = table4_rows(ablation)
    assert cells[0]["Δ(%)"] == "base" and cells[1]["Δ(%)"] == "-4.0"
    assert cells[0]["Accuracy"] == "90.0"            # one run: no ± to report
    assert markdown(cells, TABLE4_COLUMNS).count("\n") == 4


def test_ablation_variants():
    config = TrainConfig()
    assert [v["cells"]["modality"] for v in variants("modalities", config)] == ["i", "t", "m"]
    fusions = variants("fusion", config)
    assert fusions[0]["changes"]["model"]["fusion"] == "concat"
    rows = [(v["changes"]["model"]["fusion"], v["changes"]["model"]["learner"])
            for v in fusions]
    assert rows == [("concat", "none"), ("add", "none"), ("multiply", "none"),
                    ("average", "none"), ("attention", "none"), ("attention", "tempmixer")]
    assert [v["cells"]["learner"] for v in fusions][-2:] == ["×", "TCN"]   # Table 4's rows
    assert len({v["name"] for v in fusions}) == len(fusions)
    learners = [v["changes"]["model"]["learner"] for v in variants("learner", config)]
    assert learners == ["none", "gru", "lstm", "tempmixer"]


def test_leave_one_group_out_rows_per_group_mean_and_worst():
    runs = [{**run, "group": group} for group, accs in (("theo", [0.6, 0.8]),
                                                         ("george", [0.9, 1.0]))
            for run in _runs(accs)]
    row = {"model": "base", "modality": "t", "fusion": "-", **summarise(runs)}
    assert worst_group(runs) == ("theo", 0.7)
    cells = group_rows(row, runs)
    assert [c["Group"] for c in cells] == ["george", "theo", "mean of 2", "worst: theo"]
    assert cells[0]["Accuracy"] == "95.0 ± 5.0" and cells[1]["Accuracy"] == "70.0 ± 10.0"
    assert cells[2]["Accuracy"].startswith("82.5 ± ") and cells[2]["#Params"] == "0.40M"
    assert cells[3]["Accuracy"] == cells[1]["Accuracy"]
    text = markdown(cells, GROUP_COLUMNS)
    assert "| base | t | - | worst: theo | 10 |" in text
