"""Segment naming rules, profiles and the K-means pipeline on small data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from lakehouse.settings import SegmentSettings
from ml import segments


def profile(rows: dict[int, tuple[float, float, float, float]]) -> pd.DataFrame:
    """segment -> (recency days, frequency, spend, tenure days)."""
    prof = pd.DataFrame.from_dict(rows, orient="index", columns=[
        "mean_recency_days", "mean_frequency", "mean_total_spend", "mean_tenure_days"])
    prof.index.name = segments.SEGMENT
    return prof.assign(customers=100, share=1 / len(rows), churn_rate=np.nan)


FIVE = profile({
    0: (300.0, 1.5, 60.0, 500.0),  # long gone, rare, cheap
    1: (8.0, 30.0, 4000.0, 700.0),  # recent, frequent, big
    2: (120.0, 20.0, 2500.0, 650.0),  # was valuable, now lapsing
    3: (10.0, 1.2, 40.0, 15.0),  # just arrived
    4: (25.0, 12.0, 900.0, 600.0),  # recent and regular
})


def test_names_follow_the_profiles():
    assert segments.name_segments(FIVE) == {0: "Hibernating", 1: "Champions", 2: "At risk",
                                            3: "New", 4: "Loyal"}


def test_two_segments_get_the_anchor_names():
    two = FIVE.loc[[0, 1]]
    assert segments.name_segments(two) == {0: "Hibernating", 1: "Champions"}


@pytest.mark.parametrize("k", [3, 6, 8, 11])
def test_names_are_unique_for_any_k(k):
    rng = np.random.default_rng(k)
    prof = profile({i: (rng.uniform(1, 400), rng.uniform(1, 40), rng.uniform(10, 5000),
                        rng.uniform(10, 800)) for i in range(k)})
    names = segments.name_segments(prof)
    assert sorted(names) == list(range(k))
    assert len(set(names.values())) == k
    assert ("Segment" in " ".join(names.values())) == (k > 8)


def test_with_segment_names_orders_by_recency():
    named = segments.with_segment_names(FIVE, segments.name_segments(FIVE))
    assert named["segment_name"].tolist() == ["Champions", "New", "Loyal", "At risk",
                                              "Hibernating"]


def test_kmeans_separates_two_obvious_groups_and_profiles_them(spark):
    rows = [(f"a{i}", date(2023, 6, 1), 3 + i % 3, 40 + i % 5, 5000.0 + i, 600) for i in range(20)]
    rows += [(f"b{i}", date(2023, 6, 1), 300 + i % 7, 1 + i % 2, 20.0 + i, 400)
             for i in range(20)]
    rows.append(("neg", date(2023, 6, 1), 290, 1, -35.0, 380))  # net refunds: spend < 0
    df = spark.createDataFrame(rows, "customer_id string, as_of_date date, recency_days int, "
                                     "frequency long, total_spend double, tenure_days int")
    seg = segments.choose_k(df, SegmentSettings(k_min=2, k_max=3, max_iter=20), seed=1)
    assert seg.best.k == 2 and seg.best.silhouette > 0.8
    assert [c.k for c in seg.candidates] == [2, 3]
    assigned = segments.assign(df, seg.model)
    assert assigned.columns == [*df.columns, "segment_id"]
    labeled = assigned.withColumn("label", (assigned["recency_days"] > 100).cast("double"))
    prof = segments.profile(assigned, labeled)
    assert sorted(prof["customers"].tolist()) == [20, 21]
    assert sorted(prof["churn_rate"].tolist()) == [0.0, 1.0]
    names = segments.name_segments(prof)
    by_name = {names[i]: prof.loc[i] for i in prof.index}
    assert by_name["Champions"]["mean_recency_days"] < by_name["Hibernating"]["mean_recency_days"]


def test_chosen_model_is_the_whole_pipeline_fit(spark):
    """k selection fits the feature stages once; the chosen model must be the pipeline fit."""
    rows = [(f"c{i}", date(2023, 6, 1), (i * 37) % 400, 1 + (i * 13) % 40,
             float((i * 71) % 9000), 500) for i in range(200)]
    df = spark.createDataFrame(rows, "customer_id string, as_of_date date, recency_days int, "
                                     "frequency long, total_spend double, tenure_days int")
    seg = segments.choose_k(df, SegmentSettings(k_min=2, k_max=4, max_iter=20), seed=3,
                            workers=2)
    whole = segments.build_pipeline(seg.best.k, seed=3, max_iter=20).fit(df)
    got = sorted(map(tuple, seg.model.stages[-1].clusterCenters()))
    want = sorted(map(tuple, whole.stages[-1].clusterCenters()))
    assert np.allclose(got, want)
    assert segments.assign(df, seg.model).columns == [*df.columns, "segment_id"]
