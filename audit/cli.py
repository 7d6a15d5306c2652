"""`make audit ARGS='...'`: history, diff, restore and reproduce, from the Delta history.

    history TABLE                      versions with operation, rows, run and batch ids
    diff TABLE --from N --to M         rows added/removed/changed by key, schema, drift (PSI)
    restore TABLE --version N --yes    make version N current again (preview without --yes)
    reproduce RUN_ID|latest            rebuild an MLflow run's training/test sets and verify
    maintain [--vacuum]                OPTIMIZE every table, then VACUUM (dry run unless --vacuum)

TABLE is a logical name (gold.customer_features) or a role (gold_features). Versions are
numbers, never timestamps. Add --json for machine-readable output.
"""

from __future__ import annotations

import argparse

from audit.report import as_json, table
from audit.tables import diff, drift_chart, history_rows, keys_for, resolve, restore_preview
from lakehouse.cli import Stage, StageContext, run_stage


def _arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, parents=[common])

    history = command("history", "versions of a table")
    history.add_argument("table")
    compare = command("diff", "compare two versions of a table")
    compare.add_argument("table")
    compare.add_argument("--from", dest="version_from", type=int, required=True)
    compare.add_argument("--to", dest="version_to", type=int, required=True)
    compare.add_argument("--as-of", help="only this as_of_date (YYYY-MM-DD)")
    compare.add_argument("--chart", action="store_true",
                         help="also write a PNG drift chart under <reports>/audit")
    restore = command("restore", "restore a table to a version")
    restore.add_argument("table")
    restore.add_argument("--version", type=int, required=True)
    restore.add_argument("--yes", action="store_true", help="really restore (else preview)")
    reproduce = command("reproduce", "rebuild and verify an MLflow run's data")
    reproduce.add_argument("run_id", help="an MLflow run id, or 'latest'")
    maintain = command("maintain", "compact every table and list (or delete) old files")
    maintain.add_argument("--vacuum", action="store_true",
                          help="delete unreferenced files older than tables."
                               "vacuum_retention_hours (default: only list them)")


def _history(ctx: StageContext, args: argparse.Namespace) -> int:
    name, _ = resolve(ctx.settings, args.table)
    rows = history_rows(ctx.store, name)
    print(as_json(rows) if args.json else f"{name}\n{table(rows)}")
    return 0


def _diff(ctx: StageContext, args: argparse.Namespace) -> int:
    name, role = resolve(ctx.settings, args.table)
    result = diff(ctx.store, name, keys_for(ctx.settings, role, name), args.version_from,
                  args.version_to, args.as_of)
    if args.chart:
        result["chart"] = str(drift_chart(result, ctx.settings.paths.reports / "audit"))
    if args.json:
        print(as_json(result))
        return 0
    scope = f" (as_of_date {args.as_of})" if args.as_of else ""
    print(f"{name}: version {args.version_from} -> {args.version_to}{scope}, keys "
          f"{', '.join(result['keys'])}")
    print(table([result["rows"]]))
    print("schema: " + ("; ".join(result["schema_changes"]) or "unchanged"))
    print(table(result["drift"], ["column", "mean_from", "mean_to", "std_from", "std_to",
                                  "nulls_from", "nulls_to", "psi", "level"]))
    if "chart" in result:
        print(f"drift chart: {result['chart']}")
    return 0


def _restore(ctx: StageContext, args: argparse.Namespace) -> int:
    name, role = resolve(ctx.settings, args.table)
    preview = restore_preview(ctx.store, name, keys_for(ctx.settings, role, name),
                              args.version)
    if not args.yes:
        preview["restored"] = False
        print(as_json(preview) if args.json else
              f"{name}: restoring version {args.version} over version "
              f"{preview['current_version']} would change rows by key:\n"
              f"{table([preview['rows']])}\nNothing changed: add --yes to restore.")
        return 0
    result = ctx.store.restore(name, args.version)
    preview.update(restored=True, new_version=result.version)
    print(as_json(preview) if args.json else
          f"{name}: restored version {args.version} as new version {result.version}")
    return 0


def _reproduce(ctx: StageContext, args: argparse.Namespace) -> int:
    from audit.reproduce import reproduce

    return reproduce(ctx.settings, ctx.store, args.run_id, as_json_output=args.json)


def _maintain(ctx: StageContext, args: argparse.Namespace) -> int:
    cfg, rows = ctx.settings.tables, []
    for role, name in cfg.names.model_dump().items():
        if not ctx.store.exists(name):
            continue
        zorder = cfg.zorder_by.get(role, [])
        compacted = ctx.store.optimize(name, zorder_by=zorder)
        old = ctx.store.vacuum(name, retention_hours=cfg.vacuum_retention_hours,
                               dry_run=not args.vacuum)
        rows.append({"table": name, "files removed": compacted.get("numFilesRemoved", 0),
                     "files added": compacted.get("numFilesAdded", 0),
                     "z-order": ",".join(zorder) or "-",
                     "old files " + ("deleted" if args.vacuum else "(dry run)"): len(old),
                     "version": ctx.store.version(name)})
    print(as_json(rows) if args.json else table(rows))
    return 0


COMMANDS = {"history": _history, "diff": _diff, "restore": _restore, "reproduce": _reproduce,
            "maintain": _maintain}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m audit`."""
    return run_stage(Stage("audit", __doc__.splitlines()[0],
                           lambda ctx, args: COMMANDS[args.command](ctx, args),
                           add_arguments=_arguments), argv=argv)
