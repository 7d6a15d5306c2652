"""The offline bundle validator passes the real bundle and catches planted mistakes."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse.config import add_config_arguments, load_settings
from tools.validate_bundle import validate

ROOT = Path(__file__).resolve().parents[2]
JOB = "resources/lakehouse_job.yml"
SERVERLESS = "resources/lakehouse_job_serverless.yml"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A copy of the bundle with stand-ins for the entry-point modules."""
    shutil.copy(ROOT / "databricks.yml", tmp_path)
    for name in ("pyproject.toml", "databricks-runtime.txt", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(ROOT / "resources", tmp_path / "resources")
    for module in ("bronze/run", "silver/run", "gold/run", "ml/train", "ml/score",
                   "report/run"):
        path = tmp_path / f"{module}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text("def main(argv=None):\n    return 0\n\n\njob = main\n")
    return tmp_path


def edit(root: Path, file: str, change) -> None:
    path = root / file
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def job(doc: dict) -> dict:
    return doc["resources"]["jobs"]["lakehouse_pipeline"]


def messages(root: Path) -> list[str]:
    return [str(p) for p in validate(root)]


def test_the_real_bundle_is_valid():
    assert messages(ROOT) == []


def test_the_copy_is_valid(bundle):
    assert messages(bundle) == []


@pytest.mark.parametrize("change, expected", [
    (lambda d: job(d).update(max_concurent_runs=1),
     "Unexpected field 'max_concurent_runs' for class Job"),
    (lambda d: job(d)["schedule"].update(pause_status="PAUSD"),
     "'PAUSD' is not a valid PauseStatus"),
    (lambda d: job(d)["job_clusters"][0]["new_cluster"].update(data_security_mode="SINGLE"),
     "'SINGLE' is not a valid DataSecurityMode"),
    (lambda d: job(d)["tasks"][0].pop("task_key"),
     "missing 1 required keyword-only argument: 'task_key'"),
    (lambda d: job(d)["tasks"][1]["depends_on"][0].update(task_key="bronz"),
     "tasks[1].depends_on[0].task_key: 'bronz' is not a task of this job"),
    (lambda d: job(d)["tasks"][0].update(depends_on=[{"task_key": "score"}]),
     "depends_on has a cycle"),
    (lambda d: job(d)["tasks"][2].update(job_cluster_key="lakehouse_clustr"),
     "tasks[2].job_cluster_key: 'lakehouse_clustr' is not defined in job_clusters"),
    (lambda d: job(d)["tasks"][3]["python_wheel_task"].update(entry_point="lakehouse-trian"),
     "'lakehouse-trian' is not a [project.scripts] entry"),
    (lambda d: job(d)["job_clusters"][0]["new_cluster"].update(node_type_id="${var.nodetype}"),
     "${var.nodetype} is not declared"),
    (lambda d: job(d)["tasks"][0].update(
        spark_python_task={"python_file": "../jobs/missing.py"}, python_wheel_task=None),
     "file '../jobs/missing.py' does not exist"),
])
def test_each_planted_mistake_in_the_job_is_caught_with_file_and_field(bundle, change,
                                                                       expected):
    edit(bundle, JOB, change)
    found = messages(bundle)
    assert any(expected in m and m.startswith(JOB) for m in found), found


def test_variables_need_a_value_in_every_target(bundle):
    edit(bundle, "databricks.yml", lambda d: d["variables"]["node_type"].pop("default"))
    found = messages(bundle)
    assert any("${var.node_type} has no value in target 'dev'" in m for m in found), found


def test_target_mistakes_are_caught(bundle):
    def change(d):
        d["targets"]["prod"].pop("permissions")
        d["targets"]["dev"]["mode"] = "develop"
        d["targets"]["prod"]["variables"]["shcema"] = "x"

    edit(bundle, "databricks.yml", change)
    found = "\n".join(messages(bundle))
    assert "targets.prod.permissions: a production target needs permissions" in found
    assert "targets.dev.mode: must be one of" in found
    assert "targets.prod.variables.shcema: sets a variable that is not declared" in found


def test_production_runs_as_a_service_principal(bundle):
    edit(bundle, "databricks.yml", lambda d: d["targets"]["prod"].pop("run_as"))
    assert any("targets.prod.run_as: a production target needs run_as" in m
               for m in messages(bundle))


def test_compute_that_is_not_the_runtime_of_the_constraints_is_caught(bundle):
    edit(bundle, JOB, lambda d: job(d)["job_clusters"][0]["new_cluster"].update(
        spark_version="17.3.x-cpu-ml-scala2.13"))
    edit(bundle, SERVERLESS, lambda d: d["resources"]["jobs"]["lakehouse_pipeline_serverless"][
        "environments"][0]["spec"].update(environment_version="4"))
    found = "\n".join(messages(bundle))
    assert "new_cluster.spark_version: '17.3.x-cpu-ml-scala2.13' is not the runtime" in found
    assert "spec.environment_version: '4' is not the serverless environment" in found


def test_a_pyspark_pin_of_another_minor_than_the_runtime_is_caught(bundle):
    lock = bundle / "requirements.lock"
    lock.write_text(lock.read_text().replace("pyspark==4.1.4", "pyspark==4.2.0"))
    assert any(m.startswith("requirements.lock: pyspark: pins pyspark 4.2.0") for m in
               messages(bundle))


@pytest.mark.parametrize("requirement", ["pyspark>=4.1", "delta-spark>=4.4", "pandas>=2.2"])
def test_a_wheel_requirement_the_runtime_provides_is_caught(bundle, requirement):
    project = bundle / "pyproject.toml"
    project.write_text(project.read_text().replace(
        '    "great-expectations>=1.24,<2",\n', f'    "great-expectations>=1.24,<2",\n'
        f'    "{requirement}",\n', 1))
    found = messages(bundle)
    assert any(m.startswith("pyproject.toml: project.dependencies: the wheel requires "
                            f"{requirement}") for m in found), found


def test_serverless_tasks_get_the_settings_the_cluster_tasks_get():
    """The serverless job passes as `--set` parameters what the cluster job sets as
    LAKEHOUSE__ environment variables: both load the same settings."""
    values = {"catalog": "main", "schema": "retail_dev", "landing": "/Volumes/l",
              "volume_root": "/Volumes/v", "experiment": "/Shared/x", "model_name": "a.b.c",
              "segment_model_name": "a.b.d"}

    def fill(text: str) -> str:
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: values[m.group(1)], text)

    jobs = {file: yaml.safe_load((ROOT / file).read_text())["resources"]["jobs"]
            for file in (JOB, SERVERLESS)}
    cluster = jobs[JOB]["lakehouse_pipeline"]
    env = {k: fill(v) for k, v in cluster["job_clusters"][0]["new_cluster"][
        "spark_env_vars"].items()}
    serverless = jobs[SERVERLESS]["lakehouse_pipeline_serverless"]
    for ours, theirs in zip(cluster["tasks"], serverless["tasks"], strict=True):
        assert ours["python_wheel_task"] == {**theirs["python_wheel_task"],
                                             "parameters": ["--env", "databricks"]}
        args = _parse([fill(p) for p in theirs["python_wheel_task"]["parameters"]])
        from_parameters = load_settings(args.env, overrides=args.overrides, environ={})
        from_environment = load_settings("databricks", environ=env)
        assert from_parameters.model_dump(exclude={"sources"}) == \
            from_environment.model_dump(exclude={"sources"})


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(argv)


def test_a_missing_entry_point_module_is_caught(bundle):
    (bundle / "ml" / "score.py").unlink()
    assert any("ml/score.py does not exist" in m for m in messages(bundle))
