"""Logging for entry points: terse lines on the terminal, everything in one file per run.

The terminal (stderr) shows messages at $LAKEHOUSE_LOG_LEVEL (default INFO) and never a
traceback. The run's log file holds the project's loggers down to DEBUG, other libraries
from INFO (the noisy ones from WARNING), every traceback, and the warnings and errors of
the Spark JVM (lakehouse/spark.py points log4j at the same file).

The file is `<paths.reports>/logs/<run id>.log`, or `$LAKEHOUSE_LOG_DIR/<run id>.log` when
that is set. Records are kept in memory until the settings say where that is; a run that
stops before (an invalid configuration) or cannot write there uses
`<temporary folder>/lakehouse-logs` instead. On Databricks, where the reports folder is a
Volume (no appends), the default is that temporary folder on the driver.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

NOISY = ("py4j", "great_expectations", "urllib3", "mlflow.utils", "alembic", "matplotlib")
PROJECT = ("lakehouse", "bronze", "silver", "gold", "ml", "audit", "pipeline", "datagen")
# PySpark logs every error with a query context as JSON on stderr from these, besides
# raising it (pyspark/errors/exceptions/base.py): they write to the log file only.
PYSPARK_QUERY_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")
LOG_DIR_VAR = "LAKEHOUSE_LOG_DIR"
FALLBACK_DIR = Path(tempfile.gettempdir()) / "lakehouse-logs"
FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
FILE_ONLY = {"file_only": True}  # `extra=` of a record the terminal must not show

_current: RunLog | None = None


class _TerminalFormatter(logging.Formatter):
    """The message only: a traceback or stack of the record goes to the log file."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


class _Buffer(logging.Handler):
    """Holds the records logged before the log file is open."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class RunLog:
    """The log file of one process run (see the module docstring)."""

    def __init__(self, name: str, buffer: _Buffer) -> None:
        self.name = name
        self._buffer: _Buffer | None = buffer
        self._handler: logging.FileHandler | None = None

    @property
    def path(self) -> Path:
        """The log file; opened in the fallback folder if it is not open yet."""
        if self._handler is None:
            self.open(None)
        assert self._handler is not None
        return Path(self._handler.baseFilename)

    def open(self, folder: Path | None) -> Path:
        """Start writing to `<folder>/<name>.log` ($LAKEHOUSE_LOG_DIR wins; None or an
        unwritable folder: the fallback folder), with everything logged so far."""
        if self._handler is not None:
            return Path(self._handler.baseFilename)
        chosen = Path(os.environ[LOG_DIR_VAR]) if os.environ.get(LOG_DIR_VAR) else folder
        problem = None
        for candidate in dict.fromkeys([chosen, FALLBACK_DIR]):
            if candidate is None:
                continue
            try:
                candidate.mkdir(parents=True, exist_ok=True)
                self._handler = logging.FileHandler(candidate / f"{self.name}.log",
                                                    encoding="utf-8")
                break
            except OSError as err:
                problem = problem or f"cannot write the log to {candidate} ({err})"
        if self._handler is None:  # not even the temporary folder: nowhere to write
            self._handler = logging.FileHandler(os.devnull)
        handler = self._handler
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
        root = logging.getLogger()
        root.addHandler(handler)
        for name in PYSPARK_QUERY_LOGGERS:
            logging.Logger.addHandler(logging.getLogger(name), handler)
        if self._buffer is not None:
            root.removeHandler(self._buffer)
            for record in self._buffer.records:
                if record.levelno >= handler.level:
                    handler.handle(record)
            self._buffer = None
        if problem:
            logging.getLogger(__name__).warning("%s; writing it to %s instead", problem,
                                                handler.baseFilename)
        return Path(handler.baseFilename)

    def close(self) -> None:
        """Stop writing the file (it stays where it is)."""
        global _current
        root = logging.getLogger()
        if self._buffer is not None:
            root.removeHandler(self._buffer)
        if self._handler is not None:
            root.removeHandler(self._handler)
            for name in PYSPARK_QUERY_LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            self._handler.close()
        if _current is self:
            _current = None


def configure_logging(level: str | None = None) -> None:
    """Terminal logging only: stderr at `level` (default $LAKEHOUSE_LOG_LEVEL or INFO),
    without tracebacks; noisy libraries at WARNING."""
    level = (level or os.environ.get("LAKEHOUSE_LOG_LEVEL") or "INFO").upper()
    terminal = logging.StreamHandler()
    terminal.setLevel(level)
    terminal.setFormatter(_TerminalFormatter(FORMAT, datefmt="%H:%M:%S"))
    terminal.addFilter(lambda record: not getattr(record, "file_only", False))
    logging.basicConfig(level=min(logging.INFO, terminal.level), handlers=[terminal],
                        force=True)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in PROJECT:
        logging.getLogger(name).setLevel(logging.DEBUG)
    _quiet_pyspark_query_loggers()


def start_run_log(name: str, level: str | None = None) -> RunLog:
    """Configure logging for one run of an entry point (`configure_logging`) and start its
    log file `<name>.log`, in memory until `RunLog.open` names its folder."""
    global _current
    configure_logging(level)
    buffer = _Buffer()
    logging.getLogger().addHandler(buffer)
    _current = RunLog(name, buffer)
    return _current


def current_log_file() -> Path | None:
    """The open log file of this process's run, if any (the Spark JVM logs there too)."""
    if _current is None or _current._handler is None:
        return None
    return Path(_current._handler.baseFilename)


def _quiet_pyspark_query_loggers() -> None:
    """Drop the stderr handler PySpark gives its query-context loggers (see above)."""
    for name in PYSPARK_QUERY_LOGGERS:
        logger = _pyspark_logger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                    handler, logging.FileHandler):
                logger.removeHandler(handler)
        if not logger.handlers:  # else Python's last-resort handler prints to stderr
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _pyspark_logger(name: str) -> logging.Logger:
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # an older PySpark: no such loggers
        return logging.getLogger(name)
    return PySparkLogger.getLogger(name)
