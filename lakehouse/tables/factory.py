"""Choose the Delta backend: native when the connector is really there, else embedded."""

from __future__ import annotations

from pyspark.sql import SparkSession

from lakehouse.settings import Settings
from lakehouse.spark import on_databricks
from lakehouse.tables.base import TableStore, TableStoreError
from lakehouse.tables.embedded import EmbeddedStore
from lakehouse.tables.native import NativeStore

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


def delta_connector_available(spark: SparkSession) -> bool:
    """True when delta-spark can run in this session: its classes load in the JVM and
    its SQL extension is configured (always the case on Databricks)."""
    if on_databricks():
        return True
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect outside Databricks: no way to load the connector
        return False
    try:
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")
    except Exception:  # py4j raises a generic Py4JJavaError for ClassNotFoundException
        return False
    return DELTA_EXTENSION in spark.conf.get("spark.sql.extensions", "")


def open_store(spark: SparkSession, settings: Settings) -> TableStore:
    """The table store the configuration asks for (`tables.backend`: auto by default)."""
    cfg = settings.tables
    native = cfg.backend == "native" or (
        cfg.backend == "auto" and delta_connector_available(spark)
    )
    if native:
        if cfg.backend == "native" and not delta_connector_available(spark):
            raise TableStoreError(
                "tables.backend is 'native' but the delta-spark connector is not on the "
                "classpath (or spark.sql.extensions lacks "
                f"{DELTA_EXTENSION}); use 'auto' or 'embedded'"
            )
        return NativeStore(spark, settings.paths.lake, cfg.catalog, cfg.schema_)
    if cfg.catalog:
        raise TableStoreError(
            "tables.catalog is set (Unity Catalog names) but the native Delta connector is "
            "not available here; the embedded backend only handles folders under paths.lake"
        )
    return EmbeddedStore(spark, settings.paths.lake)
