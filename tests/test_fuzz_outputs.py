"""The generated battery of what a user's disk holds, at CI size: output folders of every
kind and content, labels spelled several ways, model files swapped, cut or changed after an
export, and operating-system errors at a write (``tests/fuzz_outputs.py`` holds the
strategies and oracles and runs thousands). Derandomized: the same cases every run."""

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_outputs as fz

CI = settings(derandomize=True, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))


@settings(CI, max_examples=300)
@given(case=fz.folder_cases())
def test_generated_output_folders_are_claimed_or_refused_untouched(case, tmp_path_factory):
    fz.run_folder_case(case, str(tmp_path_factory.mktemp("folder")))


@settings(CI, max_examples=300)
@given(labels=fz.label_cases())
def test_generated_label_spellings_collide_only_when_they_mean_one_class(labels):
    fz.run_label_case(labels, None)


@settings(CI, max_examples=100)
@given(case=fz.write_cases())
def test_generated_write_errors_are_one_line_and_leave_nothing_half_written(
        case, tmp_path_factory):
    fz.run_write_case(case, str(tmp_path_factory.mktemp("write")))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return fz.make_export(str(tmp_path_factory.mktemp("export")))


@pytest.mark.slow
def test_generated_damage_to_exported_files_is_refused_by_name(exported, tmp_path_factory):
    from minape_tf.outputs.export_folder import ExportFolder

    @settings(CI, max_examples=40)
    @given(case=fz.file_cases(ExportFolder(exported).read()["files"]))
    def check(case):
        fz.run_file_case(case, str(tmp_path_factory.mktemp("damaged")), exported)

    check()
