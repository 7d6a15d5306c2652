"""Silver layer: typed, validated, deduplicated transactions merged by key, plus quarantine."""
