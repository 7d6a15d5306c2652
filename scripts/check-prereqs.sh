#!/usr/bin/env bash
# Checks what `make` cannot install itself: Python >= 3.11 and Java 17+.
# Prints what to install instead of failing later with a stack trace.
set -u
python_bin="${1:-python3}"
ok=1
if ! command -v "$python_bin" >/dev/null 2>&1; then
  echo "error: '$python_bin' not found. Install Python 3.11 or newer (e.g. 'apt-get install python3.11 python3.11-venv', 'brew install python@3.11'), or run make PYTHON=/path/to/python3.11" >&2
  ok=0
elif ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $("$python_bin" --version 2>&1) is too old: Python 3.11 or newer is required (make PYTHON=/path/to/python3.11)" >&2
  ok=0
elif ! "$python_bin" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $python_bin lacks the venv module: install it (e.g. 'apt-get install python3-venv')" >&2
  ok=0
fi
java_bin="java"
[ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && java_bin="$JAVA_HOME/bin/java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "error: Java not found. Spark needs Java 17 or 21: install it (e.g. 'apt-get install openjdk-17-jre-headless', 'brew install openjdk@17') or set JAVA_HOME" >&2
  ok=0
else
  major=$("$java_bin" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}')
  if [ -n "$major" ] && [ "$major" -lt 17 ] 2>/dev/null; then
    echo "error: Java $major found; Spark 4 needs Java 17 or 21 (set JAVA_HOME to a newer JDK)" >&2
    ok=0
  fi
fi
[ "$ok" = 1 ] || exit 1
