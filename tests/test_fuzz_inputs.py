"""The fuzzed input battery at CI size: generated files, manifests and arrays either load
with their documented meaning or are refused naming the file and the problem.

The strategies and oracles are in ``tests/fuzz_strategies.py``; ``tests/fuzz_inputs.py``
runs the same with thousands of cases. The examples are derandomized, so a run is the
same every time.
"""


import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_strategies as fz

CI = settings(derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(CI, max_examples=250)
@given(case=fz.file_cases())
def test_generated_files_load_as_written_or_are_refused(case):
    fz.run_case(case)


@settings(CI, max_examples=120)
@given(case=fz.manifest_cases())
def test_generated_manifests_load_as_written_or_are_refused(case):
    fz.run_case(case)


@settings(CI, max_examples=120)
@given(case=fz.array_cases())
def test_generated_arrays_load_as_written_or_are_refused(case):
    fz.run_case(case)


def test_a_series_is_never_transposed(tmp_path):
    """8 samples of 12 channels saved as (8, 12) load as such, and a group of 8 channels
    refuses the file naming both readings."""
    import numpy as np

    from minape_tf.data import DataError, read_series
    from minape_tf.data.pipeline import make_dataset
    from minape_tf.data.source import Source
    from minape_tf.groups import SeriesGroup

    x = np.arange(96, dtype=np.float32).reshape(8, 12)
    np.save(tmp_path / "obs.npy", x)
    np.testing.assert_array_equal(read_series(tmp_path / "obs.npy")[0], x)
    src = Source(inputs={"sensor": [(str(tmp_path / "obs.npy"),)]}, labels=[0], classes=["a"],
                 ids=["o"])
    twelve = SeriesGroup("sensor", channels=12, sample_rate=100, length=16, n_fft=16, hop=8,
                         n_mels=4)
    got, _ = next(iter(make_dataset(src, [twelve], training=False, features_in_model=True)))
    np.testing.assert_array_equal(got["sensor"][0, :8].numpy(), x)
    with pytest.raises(DataError, match=r"obs\.npy.*12 channels; expected 8 \(shape \(8, 12\) "
                                        r"is read as \(samples, channels\).*save it transposed"):
        make_dataset(src, [twelve.replace(channels=8)], training=False)
