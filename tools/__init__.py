"""Developer tools that are not part of the pipeline (bundle validation)."""
