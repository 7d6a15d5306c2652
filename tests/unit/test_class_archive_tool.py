"""The class-archive builder's output handling: the sample run's lines (Python's and
a child process's, as the JVM's) go to its log, and the terminal gets them back after."""

from __future__ import annotations

import subprocess
import sys

from lakehouse.config import PROJECT_ROOT

SCRIPT = """
import subprocess, sys
from pathlib import Path
from tools.class_archive import _output_to
with _output_to(Path(sys.argv[1])):
    print("from python")
    print("python error", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "import sys; print('from a child'); "
                    "print('child error', file=sys.stderr)"], check=True)
print("after")
print("error after", file=sys.stderr)
"""


def test_output_of_the_process_and_its_children_goes_to_the_log(tmp_path):
    log = tmp_path / "pipeline.log"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == ("after\n", "error after\n")
    assert sorted(log.read_text().splitlines()) == sorted(
        ["from python", "python error", "from a child", "child error"])
