"""Entry points turn user-fixable errors into one line and exit code 1."""

from __future__ import annotations

import logging
from pathlib import Path

from lakehouse import logs
from lakehouse.cli import Stage, new_run_id, run_stage
from lakehouse.logs import start_run_log


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


def test_the_message_names_the_run_log_which_holds_the_details(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LOG_DIR", str(tmp_path / "logs"))
    code = run_stage(Stage("demo", "demo stage", lambda ctx, args: 0),
                     argv=["--env", "test", "--set", "spark.mastr=local"])
    err = capsys.readouterr().err
    assert code == 1 and "spark.mastr: unknown key (did you mean spark.master?)" in err
    log = Path(err.split("(details: ")[1].split(")")[0])
    assert log.parent == tmp_path / "logs" and log.name.startswith("demo-")
    text = log.read_text(encoding="utf-8")
    assert "demo: error: invalid configuration" in text and "Traceback" in text


def test_tracebacks_go_to_the_log_file_not_the_terminal(capsys, tmp_path):
    run_log = start_run_log("unit-run")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("lakehouse.test").exception("it failed")
        path = run_log.open(tmp_path)  # records from before the file was open are kept
        logging.getLogger("lakehouse.test").debug("detail for the file only")
    finally:
        run_log.close()
    err = capsys.readouterr().err
    assert "it failed" in err and "Traceback" not in err and "detail" not in err
    text = path.read_text(encoding="utf-8")
    assert "it failed" in text and "Traceback" in text and "ValueError: boom" in text
    assert "detail for the file only" in text


def test_an_unwritable_log_folder_falls_back_to_the_temporary_one(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "FALLBACK_DIR", tmp_path / "fallback")
    (tmp_path / "file").write_text("", encoding="utf-8")
    run_log = start_run_log("unit-run")
    try:
        path = run_log.open(tmp_path / "file" / "logs")
    finally:
        run_log.close()
    assert path == tmp_path / "fallback" / "unit-run.log"
    assert "cannot write the log to" in path.read_text(encoding="utf-8")
