"""Configuration: layering, overrides, validation errors that name key and source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lakehouse.config import PROJECT_ROOT, ConfigError, load_settings

CONF = PROJECT_ROOT / "conf"


def write_conf(tmp_path: Path, base_extra: str = "", overlay: str = "") -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "base.yml").write_text((CONF / "base.yml").read_text() + base_extra)
    (conf / "local.yml").write_text(overlay)
    return conf


def test_every_shipped_environment_loads():
    for env in ("local", "test", "databricks"):
        settings = load_settings(env, environ={})
        assert settings.env == env
        assert settings.paths.lake.is_absolute()


def test_overlay_then_environment_then_flags_win_in_that_order():
    plain = load_settings("test", environ={})
    assert plain.spark.shuffle_partitions == 2  # test.yml over base.yml's 8
    env = {"LAKEHOUSE__SPARK__SHUFFLE_PARTITIONS": "3"}
    assert load_settings("test", environ=env).spark.shuffle_partitions == 3
    flagged = load_settings("test", environ=env, overrides=["spark.shuffle_partitions=5"])
    assert flagged.spark.shuffle_partitions == 5
    assert "--set spark.shuffle_partitions=5" in flagged.sources


def test_env_var_selects_the_overlay():
    assert load_settings(environ={"LAKEHOUSE_ENV": "test"}).env == "test"
    assert load_settings(environ={}).env == "local"


def test_relative_paths_resolve_against_the_project_root():
    settings = load_settings("local", environ={})
    assert settings.paths.landing == PROJECT_ROOT / "data" / "landing"
    absolute = load_settings("local", environ={}, overrides=["paths.lake=/tmp/x"])
    assert absolute.paths.lake == Path("/tmp/x")


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    conf = write_conf(tmp_path, overlay="spark:\n  shufle_partitions: 4\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir=conf, environ={})
    assert "spark.shufle_partitions: unknown key" in str(err.value)
    assert str(conf / "local.yml") in str(err.value)


def test_wrong_type_names_the_key_and_the_source():
    with pytest.raises(ConfigError) as err:
        load_settings("test", environ={"LAKEHOUSE__GENERATOR__ROWS": "many"})
    message = str(err.value)
    assert "generator.rows" in message and "LAKEHOUSE__GENERATOR__ROWS" in message


def test_several_problems_are_all_reported(tmp_path):
    conf = write_conf(tmp_path, overlay="tables:\n  backend: postgres\nspark:\n  log_level: LOUD\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir=conf, environ={})
    assert "tables.backend" in str(err.value) and "spark.log_level" in str(err.value)


def test_impossible_date_is_a_config_error_not_a_crash():
    with pytest.raises(ConfigError, match=r"generator\.start_date"):
        load_settings("test", environ={}, overrides=["generator.start_date=2023-02-30"])


def test_missing_required_key_is_reported(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "base.yml").write_text("paths:\n  landing: x\n")
    (conf / "local.yml").write_text("")
    with pytest.raises(ConfigError, match=r"paths.lake: required key is missing"):
        load_settings("local", conf_dir=conf, environ={})


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: cluster, databricks, local, test"):
        load_settings("staging", environ={})


def test_malformed_override_and_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        load_settings("test", environ={}, overrides=["spark"])
    conf = write_conf(tmp_path, overlay="spark: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings("local", conf_dir=conf, environ={})


def test_settings_are_immutable():
    settings = load_settings("test", environ={})
    with pytest.raises(ValidationError):
        settings.spark.shuffle_partitions = 1


def test_a_yaml_error_and_a_bad_value_name_the_file_and_line(tmp_path):
    conf = write_conf(tmp_path, overlay="spark:\n  master: local\n  shuffle_partitions: [1\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir=conf, environ={})
    assert str(err.value).startswith(f"{conf / 'local.yml'}, line 4, column 1: not valid YAML")
    assert "(while parsing a flow sequence at line 3, column 23); fix the file there" in str(
        err.value)
    (conf / "local.yml").write_text("spark:\n  master: local\n  shufle_partitions: 4\n")
    with pytest.raises(ConfigError) as err:
        load_settings("local", conf_dir=conf, environ={})
    assert ("spark.shufle_partitions: unknown key (did you mean spark.shuffle_partitions?) "
            f"[{conf / 'local.yml'}, line 3]") in str(err.value)


def test_a_spark_conf_key_is_taken_verbatim_from_set():
    settings = load_settings("test", environ={},
                             overrides=["spark.conf.spark.executor.memory=4g"])
    assert settings.spark.conf["spark.executor.memory"] == "4g"
    assert settings.spark.conf["spark.databricks.delta.snapshotPartitions"] == "2"  # kept
