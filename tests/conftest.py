"""Shared fixtures: where the real data lives (``../shared/data``, next to the repository),
and the tiny trained run that tests read (``tiny_run``). Tiny settings, groups and inputs
are in ``harness.py``.

A test that needs the data skips with the reason when it is absent, except under CI
(``CI=true``), where absence is a failure.
"""

import os
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require_data(relative: str) -> Path:
    """``DATA_DIR / relative``, or skip (fail under ``CI=true``) when it does not exist."""
    path = DATA_DIR / relative
    if not path.exists():
        message = f"real data not found at {path} (see the project's README on ../shared/data)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_data("")


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    return require_data("fsdd")


@pytest.fixture(scope="session")
def mudestreda_dir() -> Path:
    return require_data("mudestreda-sample")


@pytest.fixture(scope="session")
def fsdd_files(fsdd_dir):
    """A handful of real FSDD recordings: every speaker, several digits, mixed lengths."""
    names = ["0_george_0.wav", "3_jackson_12.wav", "5_lucas_40.wav", "7_nicolas_3.wav",
             "9_theo_49.wav", "1_theo_7.wav"]
    paths = [fsdd_dir / "recordings" / n for n in names]
    for p in paths:
        if not p.exists():
            pytest.fail(f"{p} is missing from the FSDD folder")
    return [str(p) for p in paths]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished run folder of the tiny Minape (``harness.DEMO``, one epoch), trained once
    per test process; tests read it and write elsewhere."""
    from harness import DEMO
    from minape_tf.training import TrainConfig, train

    run = tmp_path_factory.mktemp("tiny") / "run"
    train(TrainConfig(**DEMO, epochs=1), run)
    return run
