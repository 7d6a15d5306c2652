"""Shared core of the lakehouse: configuration, Spark session, Delta table I/O, data quality."""
