"""Gold layer: point-in-time customer features and churn labels from silver.

`python -m gold` (`make gold`) runs `gold.run.main`; the transforms are pure functions
of DataFrames: `gold.events.customer_days` (activity per customer and day),
`gold.features.customer_features`, `gold.labels.churn_labels`; `gold.snapshots` and
`gold.plan` decide which as-of dates (and which days of the persisted customer-day
table, `gold.activity`) to compute.
"""
