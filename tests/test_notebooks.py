"""The notebooks run top to bottom and show their figures.

Each notebook's sizes live in its cell tagged ``parameters``; as papermill does, the test
inserts a cell after it that sets small values, then executes the notebook with nbclient
from a temporary folder, so that run folders land there. The kernel is ipykernel in the
interpreter running the tests (a ``python3`` kernel spec on ``JUPYTER_PATH``, which comes
before any user or system one), so the notebooks see this environment's packages. The
notebooks are stored without outputs.
"""

import ast
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import DATA_DIR, require_data
from harness import TINY

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# The smallest settings that still exercise every cell: one epoch, no latency timing, one
# TFLite variant, a few predictions.
DEMO = dict(N_TOOLS=6, RUNS_PER_TOOL=6, MODEL=TINY, EPOCHS=1, LATENCY=False,
            QUANTIZE=("float32",), N_PREDICT=3)
NAMES = ("01_quickstart.ipynb", "02_mudestreda.ipynb", "03_interpretability.ipynb")


def parameters_cell(nb):
    cells = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    return cells[0]


@pytest.fixture(scope="module", autouse=True)
def kernel(tmp_path_factory):
    """A ``python3`` kernel spec that starts ipykernel with this interpreter."""
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)", "language": "python"}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        yield


def execute(name, parameters, cwd):
    """The executed notebook ``name`` with ``parameters`` set after its parameters cell."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    declared = assigned_names(nb.cells[parameters_cell(nb)].source)
    unknown = sorted(set(parameters) - declared)
    assert not unknown, f"{name} has no parameters {unknown}; it declares {sorted(declared)}"
    injected = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    nb.cells.insert(parameters_cell(nb) + 1, nbformat.v4.new_code_cell(injected))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def assigned_names(source):
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def outputs(nb, mime):
    return [out["data"][mime] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if mime in out.get("data", {})]


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_clean_with_parameters(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{name} is stored with outputs; clear them before committing"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert assigned_names(nb.cells[parameters_cell(nb)].source)


@pytest.fixture(scope="module")
def quickstart(kernel, tmp_path_factory):
    """01 executed with the small demo; its run folder is also 03's model."""
    folder = tmp_path_factory.mktemp("quickstart")
    nb = execute("01_quickstart.ipynb", {**DEMO, "RUN_DIR": "run", "EXPORT_DIR": "export"},
                 folder)
    return nb, folder / "run", folder / "export"


@pytest.mark.slow
def test_quickstart_runs_evaluates_exports_and_predicts(quickstart):
    nb, run, exported = quickstart
    # the data figure, then ROC, confusion matrix and training curves
    assert len(outputs(nb, "image/png")) >= 4
    markdown = outputs(nb, "text/markdown")
    assert any("| accuracy |" in text for text in markdown)
    for plot in ("roc.png", "confusion.png", "training_curves.png", "metrics.json"):
        assert (run / plot).is_file()
    # the sizes table lists every file of export.json with its size
    files = json.loads((exported / "export.json").read_text())["files"]
    assert set(files) >= {"savedmodel", "tflite_float32"}
    sizes = next(t for t in markdown if t.startswith("| file | what | size (KB) |"))
    for key, entry in files.items():
        assert f"| `{entry['path']}` | {key} | {entry['bytes'] / 1e3:,.0f} |" in sizes
    # one row per predicted observation, a class from each exported model
    table = next(t for t in markdown if t.startswith("| id | true | SavedModel |"))
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    classes = json.loads((run / "run.json").read_text())["classes"]
    assert len(rows) == DEMO["N_PREDICT"]
    for row in rows:
        assert all(cell.split()[0] in classes for cell in row[1:])
        assert row[2].split()[0] == row[3].split()[0]     # SavedModel and TFLite agree


@pytest.mark.slow
def test_mudestreda_protocol_gives_table3_rows(tmp_path, mudestreda_dir):
    nb = execute("02_mudestreda.ipynb",
                 dict(DATA_DIR=str(mudestreda_dir), TRIALS=1, FOLDS=3, MODEL=TINY, IMAGE_SIZE=16,
                      EPOCHS=1, LATENCY=False, OUT="cv"), tmp_path)
    assert len(outputs(nb, "image/png")) >= 2            # one observation, accuracies
    table = next(t for t in outputs(nb, "text/markdown") if "| Model | Modality |" in t)
    rows = [line.split("|")[2].strip() for line in table.splitlines()
            if line.startswith("| Minape")]
    assert rows == ["i", "t", "m"]
    assert (tmp_path / "cv" / "table.md").is_file()
    assert len(list((tmp_path / "cv").glob("*/trial0/fold*/metrics.json"))) == 3 * 3


@pytest.mark.slow
def test_interpretability_shows_every_figure(quickstart, tmp_path):
    # 03 trains the demo itself unless RUN_DIR holds a finished run; here it reads 01's,
    # trained by the same `train` call, which halves the test's time.
    # The authors' checkpoint section runs when the file is there (required under CI), and
    # says it is skipped otherwise; the rest of the notebook runs either way.
    checkpoint = DATA_DIR / "official" / "spec_aug_tool_opt.h5"
    if os.environ.get("CI", "").lower() == "true":
        require_data("official/spec_aug_tool_opt.h5")
    nb = execute("03_interpretability.ipynb", {"RUN_DIR": str(quickstart[1]), "IG_STEPS": 16,
                                               "OFFICIAL_CHECKPOINT": str(checkpoint)},
                 tmp_path)
    # filters and kernels of both pathways, attributions on the photo and on the
    # spectrogram, the modality contribution, the checkpoint's filters (mean and colour)
    official = nb.cells[-1].outputs
    if checkpoint.is_file():
        assert len(outputs(nb, "image/png")) == 2 + 2 + 2 + 1 + 2
        assert [out["output_type"] for out in official] == \
            ["stream", "display_data", "display_data"]
        assert "311,299 parameters, input 'spec' (256, 256, 9)" in official[0]["text"]
    else:
        assert len(outputs(nb, "image/png")) == 2 + 2 + 2 + 1
        assert [out["output_type"] for out in official] == ["stream"]
        assert "not found: skipping the authors' checkpoint" in official[0]["text"]
    completeness = next(t for t in outputs(nb, "text/markdown") if "F(x) - F(baseline)" in t)
    rows = completeness.splitlines()[2:]
    assert len(rows) == 2 * 3                   # both groups, one observation per class
    for line in rows:
        attributed, change = (float(cell) for cell in line.strip("| ").split("|")[-2:])
        assert attributed == pytest.approx(change, abs=0.01)
