"""The data contracts between layers: silver transactions, gold features, gold labels.

One definition of each table's columns, types, key and required columns, and of the
churn model's inputs. Everything else derives from here: the gold transform's output
columns, the gates' column-list, key and not-NULL checks (a suite that names a
`contract:`, see lakehouse/quality/suites.py), the ML feature vector, the synthetic
data of the ML tests, the DuckDB reference's comparison.

Adding a gold feature: its expression in gold/features.py, one `Column` in
`GOLD_FEATURES` below, its expected values in tests/unit/test_gold_features.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

# Trailing windows (days) of the transactions_Nd / spend_Nd features; spend_trend
# compares the last TREND_DAYS with the TREND_DAYS before.
WINDOWS_DAYS = (30, 90, 180)
TREND_DAYS = 90


@dataclass(frozen=True)
class Column:
    """One column of a contract.

    `required`: a NULL fails the layer's gate. `model`: an input of the churn model.
    `log`: the model sees log1p(max(value, 0)) (counts and amounts with a long right
    tail); other model inputs are taken as they are.
    """

    name: str
    type: T.DataType
    required: bool = True
    model: bool = False
    log: bool = False


@dataclass(frozen=True)
class Contract:
    """A table's columns in order and the columns that identify a row."""

    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> T.StructType:
        """The Spark schema (every field nullable, as Spark's own plans produce them;
        NULLs are the gate's business: `required`)."""
        return T.StructType([T.StructField(c.name, c.type) for c in self.columns])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def model_features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.model)

    @property
    def log_features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.log)

    def kind(self, name: str) -> T.DataType:
        """The type of column `name` (KeyError if the contract has none)."""
        for column in self.columns:
            if column.name == name:
                return column.type
        raise KeyError(f"{self.table} has no column {name!r}")


def _feature(name: str, kind: T.DataType, *, log: bool = True) -> Column:
    return Column(name, kind, model=True, log=log)


AMOUNT = T.DecimalType(18, 3)

SILVER_TRANSACTIONS = Contract(
    table="silver.transactions",
    key=("row_key",),
    columns=(
        Column("row_key", T.StringType()),
        Column("invoice", T.StringType()),
        Column("stock_code", T.StringType(), required=False),
        Column("description", T.StringType(), required=False),
        Column("quantity", T.LongType()),
        Column("unit_price", AMOUNT),
        Column("line_amount", AMOUNT),
        Column("invoice_ts", T.TimestampType()),
        Column("invoice_date", T.DateType()),
        Column("customer_id", T.StringType()),
        Column("country", T.StringType(), required=False),
        Column("is_cancellation", T.BooleanType()),
        # Lineage: where the row came from and when it was processed.
        Column("_source_file", T.StringType()),
        Column("_row_number", T.LongType()),
        Column("_line_number", T.LongType()),
        Column("_batch_id", T.StringType()),
        Column("_ingested_at", T.TimestampType()),
        Column("_processed_at", T.TimestampType()),
    ),
)

GOLD_FEATURES = Contract(
    table="gold.customer_features",
    key=("customer_id", "as_of_date"),
    columns=(
        Column("customer_id", T.StringType()),
        Column("as_of_date", T.DateType()),
        Column("country", T.StringType(), required=False),
        _feature("recency_days", T.IntegerType()),
        _feature("frequency", T.LongType()),
        _feature("total_spend", T.DoubleType()),
        _feature("avg_transaction_value", T.DoubleType()),
        _feature("tenure_days", T.IntegerType()),
        _feature("interpurchase_mean_days", T.DoubleType()),
        _feature("interpurchase_std_days", T.DoubleType()),
        *[_feature(f"transactions_{n}d", T.LongType()) for n in WINDOWS_DAYS],
        *[_feature(f"spend_{n}d", T.DoubleType()) for n in WINDOWS_DAYS],
        _feature("spend_trend", T.DoubleType(), log=False),  # in [-1, 1]
        _feature("return_rate", T.DoubleType(), log=False),  # a share
        _feature("distinct_products", T.LongType()),
        _feature("avg_basket_size", T.DoubleType()),
        Column("feature_version", T.StringType()),
        Column("computed_at", T.TimestampType()),
    ),
)

GOLD_LABELS = Contract(
    table="gold.churn_labels",
    key=("customer_id", "as_of_date"),
    columns=(
        Column("customer_id", T.StringType()),
        Column("as_of_date", T.DateType()),
        Column("horizon_days", T.IntegerType()),
        Column("churned", T.IntegerType()),
        Column("next_purchase_date", T.DateType(), required=False),  # NULL when churned
    ),
)

CONTRACTS = {c.table: c for c in (SILVER_TRANSACTIONS, GOLD_FEATURES, GOLD_LABELS)}


# Customer-lifetime features the churn pipeline adds from a BG/NBD model fitted on the
# training snapshots (ml/lifetime.py): repeat purchase days x (a sufficient statistic,
# exact from a gold row), P(alive) and expected purchases in the horizon. They are
# computed from one gold row each, so gold's point-in-time guarantee covers them.
LIFETIME_FEATURES = ("bgnbd_x", "bgnbd_p_alive", "bgnbd_expected_purchases")
LIFETIME_LOGGED = ("bgnbd_x", "bgnbd_expected_purchases")  # counts: log1p like gold's
# Every input the churn model may use, in vector order.
MODEL_INPUTS = (*GOLD_FEATURES.model_features, *LIFETIME_FEATURES)
