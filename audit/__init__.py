"""Time-travel audits of Delta tables: history, diffs with drift, restore, reproduction."""
