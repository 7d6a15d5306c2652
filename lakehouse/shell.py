"""`make shell`: an interactive Python shell with the project's Spark session and catalog.

Every existing table of the lake is registered in the session catalog under its logical
name, so `spark.table("silver.transactions")`, `spark.sql("DESCRIBE HISTORY
gold.customer_features")` and `SELECT * FROM gold.churn_labels VERSION AS OF 3` work as
they do on Databricks (where the names are Unity Catalog tables).
"""

from __future__ import annotations

import argparse
import code
import sys

from lakehouse.cli import Stage, StageContext, run_stage


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    registered = []
    for name in ctx.settings.tables.names.model_dump().values():
        if ctx.store.exists(name):
            ctx.store.register(name)
            registered.append(name)
    banner = (f"Spark {ctx.spark.version} with Delta Lake; lake {ctx.settings.paths.lake}\n"
              f"tables: {', '.join(registered) or 'none yet (run make bronze silver gold)'}\n"
              "names: spark, store, settings. Try spark.table(\"silver.transactions\").show()")
    namespace = {"spark": ctx.spark, "store": ctx.store, "settings": ctx.settings}
    if args.command:
        exec(args.command, namespace)  # the user's own code, as in any shell
    else:
        code.interact(banner=banner, local=namespace, exitmsg="")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", dest="command", help="run this Python code instead of a shell")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m lakehouse.shell`."""
    return run_stage(Stage("shell", __doc__.splitlines()[0], _body,  # reads: no lake lock
                           add_arguments=_arguments, writes=lambda args: False), argv=argv)


if __name__ == "__main__":
    sys.exit(main())
