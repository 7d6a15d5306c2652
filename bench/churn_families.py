"""Churn model families on an existing lake's gold tables: training time per family and the
test ROC AUC gain over the recency rule and over BG/NBD's expected purchases alone.

    .venv/bin/python -m bench.churn_families --env local \\
        --set paths.lake=bench/cache/runs/<key>/lake [--set spark.driver_memory=12g]

Each family is tuned alone over its configured grid (the same split, metric and feature
stages as `make train`), then finished as `make train` finishes it (calibrated on
validation, refit on train, tested once). Nothing is logged to MLflow or registered. It
prints figures; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import time

from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.spark import get_spark
from lakehouse.tables import open_store
from ml import churn
from ml.contenders import contend
from ml.tracking import TableRead
from ml.train_churn import split_examples, validation_scorer


def _read(store, name: str) -> TableRead:
    version = store.version(name)
    return TableRead(name, version, store.location(name), store.read(name, version=version))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    spark = get_spark(settings)
    store = open_store(spark, settings)
    names = settings.tables.names
    data = split_examples(settings, _read(store, names.gold_features),
                          _read(store, names.gold_labels))
    cfg = settings.ml
    rows = {split: sum(n for (part, _), n in data.counts.items() if part in parts)
            for split, parts in (("train", ("tune", "validation")), ("test", ("test",)))}
    print(f"split {data.plan.kind}: {rows['train']:,} train rows, {rows['test']:,} test rows "
          f"({data.plan.describe('test')})")
    head = (f"{'family':<22}{'grid':>5}{'tune s':>9}{'finish s':>10}{'test AUC':>10}"
            f"{'vs recency':>12}{'vs BG/NBD':>11}")
    print(head)
    print("-" * len(head))
    for family in cfg.churn.families:
        one = cfg.churn.model_copy(update={"families": [family]})
        spec = churn.ModelSpec(one, data.plan.horizon_days, cfg.seed)
        started = time.perf_counter()
        tuning = churn.tune(data.splits["tune"], data.splits["validation"], spec,
                            validation_scorer(one.tuning_metric), workers=cfg.parallel_fits)
        tuned = time.perf_counter()
        finished = contend(tuning, data.splits, spec, train_churn_rate=data.train_churn_rate(),
                           workers=cfg.parallel_fits)[family]
        done = time.perf_counter()
        ev = finished.evaluation
        versus_bgnbd = ev.gain.get("roc_auc_gain_vs_bgnbd", float("nan"))
        print(f"{family:<22}{len(tuning.grid):>5}{tuned - started:>9.1f}{done - tuned:>10.1f}"
              f"{ev.model['roc_auc']:>10.4f}{ev.gain['roc_auc_gain_vs_recency']:>+12.4f}"
              f"{versus_bgnbd:>+11.4f}")
    last = finished.evaluation
    bgnbd = last.lifetime["roc_auc"] if last.lifetime else float("nan")
    print(f"baselines on the same rows: recency rule {last.recency['roc_auc']:.4f}, BG/NBD "
          f"expected purchases {bgnbd:.4f}")
    data.release()
    spark.stop()


if __name__ == "__main__":
    main()
