"""The lifetime features: BG/NBD statistics from gold rows, the fit through Spark, and the
SQL stage against the closed forms of ml/bgnbd.py."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import PipelineModel

from ml import lifetime
from ml.bgnbd import BgNbd, simulate

GOLD = "customer_id string, recency_days int, tenure_days int, interpurchase_mean_days double"
# CDNOW's estimates (Fader, Hardie and Lee 2005) with time in days instead of weeks.
TRUE = BgNbd(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)


def gold_rows(spark, x, t_x, T):
    """Gold-shaped rows of customers with x repeat purchase days, the last t_x and the
    as-of date T days after the first purchase (whole days)."""
    rows = [(f"c{i}", int(age - last), int(age), float(last / n) if n else 0.0)
            for i, (n, last, age) in enumerate(zip(x, t_x, T, strict=True))]
    return spark.createDataFrame(rows, GOLD)


def test_statistics_of_gold_rows(spark):
    # one purchase day; gaps 1 and 2 (mean 1.5); gaps 40, 21, 1 (mean 62/3); 3 gaps of 7
    df = spark.createDataFrame([("a", 30, 30, 0.0), ("b", 10, 13, 1.5),
                                ("c", 59, 121, 62 / 3), ("d", 0, 21, 7.0)], GOLD)
    got = {r.customer_id: (r[lifetime.REPEATS], r[lifetime.LAST], r[lifetime.AGE])
           for r in lifetime.statistics(df).collect()}
    assert got == {"a": (0, 0, 30), "b": (2, 3, 13), "c": (3, 62, 121), "d": (3, 21, 21)}


PARAMS = [BgNbd(0.25, 4.0, 0.8, 2.5),  # a < 1, z close to 1 for a long horizon
          BgNbd(0.6, 20.0, 1.7, 3.0),  # a > 1
          BgNbd(1.2, 2.0, 0.5, 0.9),  # small alpha: hundreds of series terms
          BgNbd(0.3, 60.0, 3.0, 1.0)]  # b = 1: the dead odds divide by x


@pytest.mark.parametrize("params", PARAMS, ids=str)
@pytest.mark.parametrize("horizon", [90, 270])
def test_the_sql_stage_equals_the_closed_forms(spark, params, horizon):
    x, t_x, T = [], [], []
    for repeats in (0, 1, 2, 5, 20, 50):
        for age in (0, 10, 90, 365, 700):
            for share in ((0.0,) if repeats == 0 else (0.1, 0.5, 1.0)):
                last = max(1, round(share * age)) if repeats else 0
                if last <= age:
                    x.append(repeats), t_x.append(last), T.append(age)
    out = lifetime.transformer(params, horizon).transform(gold_rows(spark, x, t_x, T))
    pdf = out.orderBy("customer_id").toPandas()
    pdf = pdf.set_index(pdf["customer_id"].str[1:].astype(int)).sort_index()
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    assert np.array_equal(pdf[lifetime.REPEATS], x)
    np.testing.assert_allclose(pdf[lifetime.P_ALIVE], params.p_alive(x, t_x, T), rtol=1e-6)
    np.testing.assert_allclose(pdf[lifetime.EXPECTED],
                               params.expected_purchases(horizon, x, t_x, T), rtol=1e-6)


def test_a_long_silent_heavy_buyer_is_dead_not_nan(spark):
    row = gold_rows(spark, [200], [10], [2000])
    got = lifetime.transformer(PARAMS[0], 90).transform(row).first()
    assert got[lifetime.P_ALIVE] == pytest.approx(0.0, abs=1e-12)
    assert got[lifetime.EXPECTED] == pytest.approx(0.0, abs=1e-12)


def _simulated(n: int, seed: int):
    T = np.random.default_rng(seed).integers(189, 274, n).astype(float)  # 27-39 weeks
    x, t_x = simulate(TRUE, T, seed=seed + 1)
    return x, np.where(x > 0, np.ceil(t_x), 0.0), T  # gold counts whole days


def test_the_fit_through_spark_recovers_simulated_parameters(spark):
    df = gold_rows(spark, *_simulated(20_000, seed=3))
    got = lifetime.fit(df, max_customers=50_000, seed=1)
    assert got.r == pytest.approx(TRUE.r, rel=0.15)
    assert got.alpha == pytest.approx(TRUE.alpha, rel=0.2)
    assert got.a == pytest.approx(TRUE.a, rel=0.35)
    assert got.b == pytest.approx(TRUE.b, rel=0.4)
    sampled = lifetime.fit(df, max_customers=8_000, seed=1)  # a seeded sample of ~8,000
    assert sampled == lifetime.fit(df, max_customers=8_000, seed=1)
    assert sampled.r == pytest.approx(TRUE.r, rel=0.3)
    assert sampled.alpha == pytest.approx(TRUE.alpha, rel=0.4)


def test_the_stage_saves_and_loads_with_the_pipeline(spark, tmp_path):
    df = gold_rows(spark, *_simulated(200, seed=5))
    model = PipelineModel(stages=[lifetime.transformer(PARAMS[1], 90)])
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    columns = ["customer_id", *lifetime.FEATURES]
    assert (loaded.transform(df).select(columns).collect()
            == model.transform(df).select(columns).collect())


def test_too_few_repeat_buyers_is_one_line(spark):
    df = gold_rows(spark, [0] * 40, [0] * 40, [100] * 40)
    with pytest.raises(lifetime.LifetimeFitError, match="repeat purchase") as info:
        lifetime.fit(df, max_customers=1000, seed=1)
    assert "\n" not in str(info.value)


def test_describe_names_the_four_parameters():
    assert lifetime.describe(PARAMS[0]) == {"bgnbd_r": 0.25, "bgnbd_alpha": 4.0,
                                            "bgnbd_a": 0.8, "bgnbd_b": 2.5}
