"""The embedded demo data set and the ``minape demo`` table."""

import numpy as np
import pytest

from minape_tf.data.loaders.demo import CLASSES, demo
from minape_tf.data.pipeline import make_dataset


def test_demo_data_is_deterministic_and_split_by_tool():
    a, b, c = demo(seed=1, n_tools=6, runs_per_tool=6), demo(seed=1, n_tools=6,
                                                             runs_per_tool=6), demo(seed=2)
    np.testing.assert_array_equal(a.source.labels, b.source.labels)
    np.testing.assert_array_equal(a.source.inputs["tool"][5][0], b.source.inputs["tool"][5][0])
    np.testing.assert_array_equal(a.source.inputs["force"][5][2], b.source.inputs["force"][5][2])
    assert not np.array_equal(a.source.inputs["force"][0][0][:100],
                              c.source.inputs["force"][0][0][:100])
    source, groups, splits = c
    assert source.classes == CLASSES == ["sharp", "used", "dulled"]
    assert len(source) == 400 and np.bincount(source.labels).min() >= 60   # all classes
    keys = {name: set(source.split_keys[index]) for name, index in splits.items()}
    assert not (keys["train"] & keys["val"]) and not (keys["train"] & keys["test"]) \
        and not (keys["val"] & keys["test"])
    assert sorted(np.concatenate(list(splits.values()))) == list(range(len(source)))
    for name in ("train", "val", "test"):                 # every split sees every class
        assert len(np.unique(source.labels[splits[name]])) == 3


def test_demo_data_goes_through_the_pipeline():
    source, groups, splits = demo(seed=0, n_tools=3, runs_per_tool=4)
    x, y = next(iter(make_dataset(source, groups, training=False, batch_size=12)))
    assert tuple(x["tool"].shape) == (12, *groups[0].feature_shape)
    assert tuple(x["force"].shape) == (12, *groups[1].feature_shape)
    assert np.isfinite(x["force"].numpy()).all()
    assert 0.0 <= float(np.min(x["tool"])) and float(np.max(x["tool"])) <= 1.0


def test_wear_shows_in_both_modalities():
    source, _, _ = demo(seed=0)
    force_rms = np.array([np.std(f[0]) for f in source.inputs["force"]])
    brightness = np.array([(img[0].mean(-1) > 0.55).mean() for img in source.inputs["tool"]])
    for values in (force_rms, brightness):       # grows with the class on average ...
        means = [values[source.labels == c].mean() for c in range(3)]
        assert means[0] < means[1] < means[2]
    # ... but overlaps between neighbouring classes: neither modality alone is perfect
    assert force_rms[source.labels == 1].max() > force_rms[source.labels == 2].min()
    assert brightness[source.labels == 0].max() > brightness[source.labels == 1].min()


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_tools"):
        demo(n_tools=2)


@pytest.mark.slow
def test_demo_command_table(tmp_path):
    from minape_tf.protocol.demo import run_demo

    lines = []
    result = run_demo(str(tmp_path / "demo"), epochs=2, verbose=0, log=lines.append)
    table = result["table"]
    rows = [line for line in table.splitlines() if line.startswith("| Minape")]
    assert [row.split("|")[2].strip() for row in rows] == ["i", "t", "m"]
    assert ("| Model | Modality | Fusion-Type | ms/img | Size(MB) | Size+opt(MB) | #Params | AUC "
            "| Accuracy |") in table
    assert (tmp_path / "demo" / "table.md").read_text() == table
    for name in ("image", "series", "multimodal"):
        assert (tmp_path / "demo" / name / "metrics.json").exists()
    assert any("[3/3]" in line for line in lines)
    params = [r["params_mean"] for r in result["rows"]]
    assert params[2] > params[0] and params[2] > params[1]
