"""Device histories (minape_tf.data.sequences) and make_dataset(sequence_length=L)."""

import numpy as np
import pytest

from minape_tf.data import DataError, Source, demo, make_dataset, manifest, mudestreda
from minape_tf.data.sequences import history_windows
from minape_tf.groups import ImageGroup

GROUP = ImageGroup("img", channels=1, size=(4, 4))


def tagged_source(devices, order, labels=None):
    """Observation ``i`` is a constant image of value ``(i + 1) / 100``, so a window's pixels
    say which observations it holds."""
    n = len(devices)
    images = [(np.full((4, 4, 1), (i + 1) / 100, np.float32),) for i in range(n)]
    return Source(inputs={"img": images},
                  labels=np.arange(n) % 2 if labels is None else labels, classes=["a", "b"],
                  ids=[f"obs{i}" for i in range(n)], split_keys=np.array(devices),
                  order=np.array(order))


def observations(x):
    """The observation of every step of a batch of windows: (batch, L) ints."""
    return np.rint(np.asarray(x["img"])[:, :, 0, 0, 0] * 100).astype(int) - 1


# Two devices, listed out of order: device "a" at positions 0, 2, 3, 5; "b" at 1, 4.
DEVICES = ["a", "b", "a", "a", "b", "a"]
ORDER = [30, 2, 10, 20, 1, 40]


def test_windows_follow_each_devices_order_and_pad_the_old_end():
    windows = history_windows(tagged_source(DEVICES, ORDER), 3)
    # "a" in time order: 2 (10), 3 (20), 0 (30), 5 (40); "b": 4 (1), 1 (2).
    np.testing.assert_array_equal(windows.ends, np.arange(6))
    np.testing.assert_array_equal(windows.index, [[2, 3, 0], [4, 4, 1], [2, 2, 2],
                                                  [2, 2, 3], [4, 4, 4], [3, 0, 5]])
    np.testing.assert_array_equal(windows.mask, [[1, 1, 1], [0, 1, 1], [0, 0, 1],
                                                 [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    dropped = history_windows(tagged_source(DEVICES, ORDER), 3, short="drop")
    np.testing.assert_array_equal(dropped.ends, [0, 5])
    assert dropped.mask.all()


def test_dataset_windows_hold_one_device_in_order_labelled_by_the_last():
    source = tagged_source(DEVICES, ORDER, labels=np.array([0, 1, 1, 0, 0, 1]))
    x, y = next(iter(make_dataset(source, [GROUP], training=False, batch_size=6,
                                  sequence_length=3)))
    assert x["img"].shape == (6, 3, 4, 4, 1)
    steps = observations(x)
    np.testing.assert_array_equal(steps[:, -1], np.arange(6))
    np.testing.assert_array_equal(y.numpy(), source.labels)
    devices, order = np.array(DEVICES), np.array(ORDER)
    for window in steps:
        assert len(set(devices[window])) == 1                  # never another device
        assert np.all(np.diff(order[window]) >= 0)             # oldest first (pads repeat)


def test_training_windows_are_shuffled_whole():
    source = tagged_source(DEVICES, ORDER)
    ds = make_dataset(source, [GROUP], training=True, batch_size=6, sequence_length=3,
                      augment=False, seed=1)
    x, y = next(iter(ds))
    steps = observations(x)
    expected = history_windows(source, 3).index
    assert sorted(map(tuple, steps)) == sorted(map(tuple, expected))
    np.testing.assert_array_equal(y.numpy(), source.labels[steps[:, -1]])


def test_no_window_crosses_a_split():
    # One device whose runs were split at random: even runs train, odd runs test.
    source = tagged_source(["t"] * 6, [0, 1, 2, 3, 4, 5])
    test = source.subset([1, 3, 5])
    x, _ = next(iter(make_dataset(test, [GROUP], training=False, batch_size=3,
                                  sequence_length=3)))
    np.testing.assert_array_equal(observations(x)[-1], [1, 3, 5])   # not [3, 4, 5]
    assert set(observations(x).ravel()) <= {1, 3, 5}


def test_histories_need_an_unambiguous_order():
    unordered = Source(inputs={"img": [(np.zeros((4, 4, 1), np.float32),)] * 2},
                       labels=[0, 1], classes=["a", "b"], ids=["x", "y"])
    with pytest.raises(DataError, match="needs the order"):
        history_windows(unordered, 2)
    assert history_windows(unordered, 1).index.shape == (2, 1)   # L = 1 needs no order
    with pytest.raises(DataError, match=r"'obs2' and 'obs3' of device 'a' have the same order"):
        history_windows(tagged_source(DEVICES, [30, 2, 10, 10, 1, 40]), 2)
    with pytest.raises(ValueError, match="sequence_length=0"):
        history_windows(tagged_source(DEVICES, ORDER), 0)
    with pytest.raises(ValueError, match="short='skip'"):
        history_windows(tagged_source(DEVICES, ORDER), 2, short="skip")
    with pytest.raises(DataError, match="no device has 5 observations"):
        make_dataset(tagged_source(DEVICES, ORDER), [GROUP], training=False,
                     sequence_length=5, short_histories="drop")


def test_demo_orders_each_tool_by_run():
    source, _, splits = demo(0, n_tools=3, runs_per_tool=5, image_size=16)
    windows = history_windows(source.subset(splits["train"]), 5, short="drop")
    ids = np.array(source.subset(splits["train"]).ids)[windows.index]
    tool = ids[0][0].split("R")[0]
    assert list(ids[0]) == [f"{tool}R{r}" for r in range(1, 6)]


def test_mudestreda_orders_by_run_then_image(mudestreda_dir):
    source = mudestreda(mudestreda_dir, forces="off", validate=False).source
    windows = history_windows(source, 3)
    ids = np.array(source.ids)
    assert list(ids[windows.index[source.ids.index("T1R11B4")]]) == ["T1R2B1", "T1R6B3",
                                                                     "T1R11B4"]
    assert list(ids[windows.index[source.ids.index("T2R6B4")]]) == ["T2R1B1", "T2R1B1",
                                                                    "T2R6B4"]


def test_manifest_group_and_order_columns(tmp_path):
    from PIL import Image
    for i in range(3):
        Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "m.csv").write_text("img,label,group,order,split\n0.png,a,m1,2.5,train\n"
                                    "1.png,b,m1,1,train\n2.png,a,m2,7,train\n")
    source = manifest(tmp_path / "m.csv").source
    np.testing.assert_array_equal(history_windows(source, 2).index, [[1, 0], [1, 1], [2, 2]])
    (tmp_path / "bad.csv").write_text("img,label,group,order\n0.png,a,m1,late\n")
    with pytest.raises(DataError, match=r"bad.csv, line 2: order='late'"):
        manifest(tmp_path / "bad.csv")


@pytest.mark.slow
def test_a_small_model_learns_from_demo_histories():
    import keras

    from minape_tf import build_minape

    keras.utils.set_random_seed(0)
    source, groups, splits = demo(0, n_tools=10, runs_per_tool=16, image_size=32)
    train = make_dataset(source.subset(splits["train"]), groups, training=True, batch_size=16,
                         sequence_length=4, augment=False)
    test_source = source.subset(splits["test"])
    test = make_dataset(test_source, groups, training=False, batch_size=64, sequence_length=4)
    model = build_minape(groups, 3, width=16, depth=1, patch_size=4, kernel_size=3,
                         learner="tempmixer", sequence_length=4)
    model.compile(keras.optimizers.AdamW(3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, epochs=10, verbose=0)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    majority = np.bincount(test_source.labels).max() / len(test_source)
    assert accuracy > max(majority, 1 / 3) + 0.15


@pytest.mark.slow
def test_training_augments_every_step_of_a_window():
    source, groups, splits = demo(0, n_tools=3, runs_per_tool=4, image_size=16)
    train = source.subset(splits["train"])
    plain, augmented = (next(iter(make_dataset(train, groups, training=True, batch_size=4,
                                               sequence_length=2, seed=0, augment=a)))
                        for a in (False, True))
    np.testing.assert_array_equal(plain[1].numpy(), augmented[1].numpy())  # same windows
    for name in ("tool", "force"):
        assert augmented[0][name].shape == plain[0][name].shape == (4, 2) + \
            next(g for g in groups if g.name == name).feature_shape
        for step in (0, 1):
            assert not np.allclose(augmented[0][name][:, step], plain[0][name][:, step])
