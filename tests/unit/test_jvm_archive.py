"""The JVM class archive: which options a local session gets, and which archives are
refused (a truncated archive would crash the JVM)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lakehouse import jvm_archive
from lakehouse.jvm_archive import GC_OPTION, ClassArchiveError


@pytest.fixture(autouse=True)
def _no_dump(monkeypatch):
    monkeypatch.delenv(jvm_archive.DUMP_ENV, raising=False)


@pytest.fixture(scope="module")
def dumped_once(tmp_path_factory) -> bytes:
    """A real (small) dynamic archive: the classes of `java -version`."""
    path = tmp_path_factory.mktemp("cds") / "dumped.jsa"
    java = jvm_archive.java_executable()
    subprocess.run([str(java), GC_OPTION, f"-XX:ArchiveClassesAtExit={path}",
                    *jvm_archive.QUIET.split(), "-version"], check=True, capture_output=True)
    return path.read_bytes()


@pytest.fixture
def dumped(dumped_once, tmp_path) -> Path:
    """A fresh copy of the dumped archive (installing it moves it)."""
    path = tmp_path / "dumped.jsa"
    path.write_bytes(dumped_once)
    return path


def test_an_installed_archive_is_used_and_checked(dumped, tmp_path):
    target = jvm_archive.install(dumped, tmp_path / "share" / "a.jsa")
    assert not dumped.exists()
    assert jvm_archive.usable(target)
    options = jvm_archive.java_options(enabled=True, archive=target)
    assert options.split()[0] == f"-XX:SharedArchiveFile={target}"
    assert "-Xlog:cds=off" in options
    assert jvm_archive.java_options(enabled=False, archive=target) == ""


def test_a_truncated_archive_fails_its_check_and_is_not_installed(dumped, tmp_path):
    truncated = tmp_path / "truncated.jsa"
    truncated.write_bytes(dumped.read_bytes()[:40_000])
    assert dumped.stat().st_size > 80_000
    with pytest.raises(ClassArchiveError, match="exited with"):
        jvm_archive.install(truncated, tmp_path / "target.jsa")
    assert not (tmp_path / "target.jsa").exists()


def test_an_archive_whose_size_changed_after_install_is_not_used(tmp_path):
    archive = tmp_path / "a.jsa"
    archive.write_bytes(b"x" * 100)
    (tmp_path / "a.jsa.json").write_text('{"size": 100}')
    assert jvm_archive.usable(archive)
    archive.write_bytes(b"x" * 50)
    assert not jvm_archive.usable(archive)
    assert jvm_archive.java_options(enabled=True, archive=archive) == ""


@pytest.mark.parametrize("sidecar", [None, "not json", '{"bytes": 100}', '{"size": "100"}'])
def test_an_archive_without_a_valid_record_is_not_used(tmp_path, sidecar):
    archive = tmp_path / "a.jsa"
    archive.write_bytes(b"x" * 100)
    if sidecar is not None:
        (tmp_path / "a.jsa.json").write_text(sidecar)
    assert not jvm_archive.usable(archive)


def test_a_missing_dump_is_an_error(tmp_path):
    with pytest.raises(ClassArchiveError, match="wrote no archive"):
        jvm_archive.install(tmp_path / "nothing.jsa", tmp_path / "target.jsa")


def test_the_builder_variable_asks_the_jvm_to_dump(monkeypatch, tmp_path):
    monkeypatch.setenv(jvm_archive.DUMP_ENV, str(tmp_path / "out.jsa"))
    assert jvm_archive.java_options(enabled=False).startswith(
        f"-XX:ArchiveClassesAtExit={tmp_path / 'out.jsa'} ")


def test_the_key_follows_the_jvm_and_the_jars(tmp_path):
    java, jars = tmp_path / "java", tmp_path / "jars"
    java.write_bytes(b"jvm")
    jars.mkdir()
    (jars / "spark-core.jar").write_bytes(b"")
    key = jvm_archive.archive_key(java, jars)
    assert len(key) == 16 and key == jvm_archive.archive_key(java, jars)
    (jars / "delta-spark.jar").write_bytes(b"")
    with_jar = jvm_archive.archive_key(java, jars)
    java.write_bytes(b"a newer jvm")
    assert len({key, with_jar, jvm_archive.archive_key(java, jars)}) == 3


def test_the_archive_lives_under_the_given_folder_named_by_its_key(tmp_path):
    path = jvm_archive.archive_path(tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith("spark-classes-") and path.suffix == ".jsa"
