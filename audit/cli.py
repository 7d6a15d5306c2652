"""`make audit ARGS='...'`: history, diff, restore and reproduce, from the Delta history.

    history TABLE                      versions with operation, rows, run and batch ids
    diff TABLE --from N --to M         rows added/removed/changed by key, schema, drift (PSI)
    restore TABLE --version N --yes    make version N current again (preview without --yes)
    reproduce RUN_ID|latest            rebuild an MLflow run's training/test sets and verify
    maintain [--vacuum]                OPTIMIZE every table, then VACUUM (dry run unless --vacuum)
    check [TABLE ...]                  find damaged tables (log, missing or unreadable files)
    repair TABLE --yes                 recover a damaged table (preview without --yes)

TABLE is a logical name (gold.customer_features) or a role (gold_features). Versions are
numbers, never timestamps. Add --json for machine-readable output.
"""

from __future__ import annotations

import argparse

from audit.report import as_json, table
from audit.tables import diff, drift_chart, history_rows, keys_for, resolve, restore_preview
from lakehouse.cli import Stage, StageContext, run_stage
from lakehouse.tables import DamagedTableError, TableNotFoundError
from lakehouse.tables.repair import check as check_table
from lakehouse.tables.repair import repair as repair_table


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
    check = command("check", "check tables for damage (every configured table by default)")
    check.add_argument("tables", nargs="*", metavar="TABLE")
    repair = command("repair", "recover a damaged table: move damaged log files aside, or "
                               "drop data files that cannot be read (their rows are lost)")
    repair.add_argument("table")
    repair.add_argument("--yes", action="store_true", help="really repair (else preview)")


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
    try:
        preview = restore_preview(ctx.store, name, keys_for(ctx.settings, role, name),
                                  args.version)
    except Exception as err:  # the current version of a damaged table cannot be read
        damaged = ctx.store.explain(err)
        if damaged is None:
            raise
        preview = {"table": name, "current_version": ctx.store.version(name),
                   "restore_version": args.version, "rows": {"unknown": str(damaged)},
                   "schema_changes": []}
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


def _check(ctx: StageContext, args: argparse.Namespace) -> int:
    names = [resolve(ctx.settings, t)[0] for t in args.tables] or \
        list(ctx.settings.tables.names.model_dump().values())
    rows, damaged = [], 0
    for name in names:
        try:
            check_table(ctx.store, name)
            state = "ok"
        except TableNotFoundError:
            if args.tables:
                raise
            continue  # not written yet
        except DamagedTableError as err:
            state, damaged = f"damaged: {err}", damaged + 1
        rows.append({"table": name, "state": state})
    print(as_json(rows) if args.json else table(rows))
    return 1 if damaged else 0


def _repair(ctx: StageContext, args: argparse.Namespace) -> int:
    name, _ = resolve(ctx.settings, args.table)
    result = {"table": name, **repair_table(ctx.store, name, dry_run=not args.yes),
              "repaired": bool(args.yes)}
    if args.json:
        print(as_json(result))
    elif result["action"] == "none":
        print(f"{name}: no damage found, nothing to repair")
    elif result["action"] == "move_log_files":
        done = (f"moved to {result['moved_to']}; the table is at version {result['version']}"
                if args.yes else "would be moved out of the log. Nothing changed: add --yes")
        print(f"{name}: {result['problem']}.\n" + "\n".join(result["files"]) + f"\n{done}")
    else:
        done = (f"rewritten without them as version {result['version']}: "
                f"{result['rows_lost']} rows lost" if args.yes else
                "would be dropped from the table with their rows. Nothing changed: add --yes")
        print(f"{name}: data files that cannot be read:\n" + "\n".join(result["files"]) +
              f"\n{done}")
    return 0


def _writes(args: argparse.Namespace) -> bool:
    """Commands that change tables hold the lake's lock; the others only read."""
    return args.command == "maintain" or (args.command in ("restore", "repair")
                                          and bool(args.yes))


COMMANDS = {"history": _history, "diff": _diff, "restore": _restore, "reproduce": _reproduce,
            "maintain": _maintain, "check": _check, "repair": _repair}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m audit`."""
    return run_stage(Stage("audit", __doc__.splitlines()[0],
                           lambda ctx, args: COMMANDS[args.command](ctx, args),
                           add_arguments=_arguments, writes=_writes), argv=argv)
