"""Entry points turn user-fixable errors into one line and exit code 1."""

from __future__ import annotations

from lakehouse.cli import Stage, new_run_id, run_stage


def test_config_error_is_one_line_and_exit_code_1(capsys):
    code = run_stage(Stage("demo", "demo stage", lambda ctx, args: 0),
                     argv=["--env", "test", "--set", "spark.shuffle_partitions=zero"])
    assert code == 1
    err = capsys.readouterr().err
    assert "demo: error: invalid configuration" in err
    assert "spark.shuffle_partitions" in err and "Traceback" not in err


def test_run_ids_are_unique_and_name_the_stage():
    first, second = new_run_id("bronze"), new_run_id("bronze")
    assert first != second and first.startswith("bronze-")
