"""Benchmark input: samples made by the project's generator, cached by parameters.

A sample lives in `<cache>/samples/<key>/{landing,truth}`; the key names every parameter
that changes the files, so a cached sample is reused only when it is the same data.
It is generated into a `.partial` folder and renamed when complete, so an interrupted
run never leaves a half sample behind. Runs work on a copy (CSV files hard-linked, the
truth folder copied) so the incremental run can add a month without touching the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SampleSpec:
    """The generator parameters of one sample."""

    rows: int
    months: int
    customers: int
    seed: int

    @property
    def key(self) -> str:
        """The cache folder name."""
        return f"rows{self.rows}-months{self.months}-customers{self.customers}-seed{self.seed}"


@dataclass(frozen=True)
class Sample:
    """A generated sample on disk."""

    spec: SampleSpec
    landing: Path
    truth: Path
    records: int  # CSV records (manifest totals): the benchmark's row count
    generate_seconds: float | None  # None when taken from the cache


def default_customers(rows: int) -> int:
    """About one customer per 200 rows: the project's sample (500k rows... 1M rows,
    5,000 customers over 24 months) scaled, so the customer base grows with the data."""
    return max(1000, rows // 200)


def manifest(truth: Path) -> dict:
    """The generator's manifest of a sample."""
    return json.loads((truth / "manifest.json").read_text(encoding="utf-8"))


def records(truth: Path) -> int:
    """CSV records of every file in the sample (what bronze ingests)."""
    return int(manifest(truth)["totals"]["records"])


def datagen(args: list[str]) -> float:
    """Run `python -m datagen --env local <args>`; returns the seconds it took."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "datagen", "--env", "local", *args], check=True)
    return time.perf_counter() - started


def ensure_sample(cache: Path, spec: SampleSpec) -> Sample:
    """The cached sample for `spec`, generated first if it is not there."""
    home = cache / "samples" / spec.key
    seconds = None
    if not (home / "truth" / "manifest.json").is_file():
        partial = home.with_name(home.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        seconds = datagen(["--landing", str(partial / "landing"), "--truth",
                           str(partial / "truth"), "--rows", str(spec.rows), "--months",
                           str(spec.months), "--customers", str(spec.customers), "--seed",
                           str(spec.seed), "--force", "--quiet"])
        shutil.rmtree(home, ignore_errors=True)
        partial.rename(home)
    return Sample(spec, home / "landing", home / "truth", records(home / "truth"), seconds)


def working_copy(sample: Sample, dest: Path) -> Sample:
    """A copy of `sample` under `dest` that a run may extend: CSV files hard-linked
    (no bytes copied; the generator writes new months as new files), truth copied."""
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "landing").mkdir(parents=True)
    for path in sorted(sample.landing.iterdir()):
        target = dest / "landing" / path.name
        try:
            os.link(path, target)
        except OSError:  # another file system: copy
            shutil.copy2(path, target)
    shutil.copytree(sample.truth, dest / "truth")
    return Sample(sample.spec, dest / "landing", dest / "truth", sample.records, None)


def extend(sample: Sample) -> tuple[Sample, int, float]:
    """Add one month to a working copy with `datagen --extend-months 1`. Returns the
    extended sample, the records of the new files and the generator's seconds."""
    before = {e["file"] for e in manifest(sample.truth)["files"]}
    seconds = datagen(["--landing", str(sample.landing), "--truth", str(sample.truth),
                       "--extend-months", "1", "--quiet"])
    files = manifest(sample.truth)["files"]
    new = sum(int(e["records"]) for e in files if e["file"] not in before)
    return (Sample(sample.spec, sample.landing, sample.truth, records(sample.truth), None),
            new, seconds)
