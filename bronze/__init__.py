"""Bronze layer: landing CSV files -> raw Delta table + ingest log, exactly once."""
