"""The `monitor` command: run, check, validate, migrate, incidents, report, review, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

import structlog

from monitor import __version__
from monitor.checkspec import CheckSpec
from monitor.config import Config, ConfigError, config_path, config_warnings, load_config
from monitor.incidents import CHECK_REMOVED, Incident
from monitor.logs import configure_logging
from monitor.results import ProbeResult
from monitor.reviews import Review
from monitor.shard import ALL, Shard

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor", description="Round-the-clock monitoring of government sites and accounts."
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help_text: str, under: Any = commands) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = under.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "-c", "--config", help="config file (default: $MONITOR_CONFIG, then ./monitor.yaml)"
        )
        return sub

    run = with_config("run", "run the service: probe loop, /metrics and API, until SIGTERM")
    run.add_argument(
        "--shard",
        default="0/1",
        help="probe only shard i of n (i/n, 0-based; replicas share one database)",
    )
    check = with_config("check", "run every selected check once, now (exit 1 if any failed)")
    check.add_argument("--site", action="append", help="only this site (repeatable)")
    check.add_argument("--check", action="append", help="only this check id (repeatable)")
    check.add_argument("--json", action="store_true", help="a JSON array on stdout")
    with_config("validate", "load and validate the config only")
    with_config("migrate", "apply the database schema migrations (run does it too)")
    incidents = with_config("incidents", "list incidents from the database")
    incidents.add_argument("--open", action="store_true", help="only incidents still open")
    incidents.add_argument("--since", help="open at any time since (2026-07-01 or ISO time)")
    incidents.add_argument("--site", help="only this site")
    incidents.add_argument("--json", action="store_true", help="a JSON array on stdout")
    demo = commands.add_parser(
        "demo",
        help="twins of the notice's sites on loopback, misbehaving on a schedule, monitored",
        description="Loopback twins of the notice's sites that misbehave on a schedule, monitored "
        "on the embedded store (or $MONITOR_DATABASE_URL): no internet needed.",
    )
    demo.add_argument("--listen", default="127.0.0.1:9108", help="loopback host:port of the page")
    demo.add_argument("--data-dir", default="./monitor-demo", help="embedded store and demo.yaml")
    demo.add_argument("--pace", type=float, default=1.0, help="multiply schedule and intervals")
    report = with_config("report", "quarterly summary and export, with the official verdicts")
    period = report.add_mutually_exclusive_group()
    period.add_argument("--quarter", help="e.g. 2026Q3 (or give --from/--to)")
    period.add_argument("--from", dest="start", help="first day (2026-07-01) or ISO time")
    report.add_argument("--to", dest="end", help="last day, included (with --from)")
    report.add_argument("--site", action="append", help="only this site (repeatable)")
    report.add_argument("--kind", choices=["website", "new_media"], help="only sites of this kind")
    report.add_argument("--format", default="md", choices=["md", "html", "csv", "json"])
    report.add_argument("--lang", default="zh", choices=["zh", "en"])
    report.add_argument("--table", help="with --format csv: only this table (e.g. incidents)")
    report.add_argument("-o", "--output", help="file (csv: a directory or a name prefix)")
    _review_parser(commands, with_config)
    return parser


def _review_parser(commands: Any, with_config: Callable[..., argparse.ArgumentParser]) -> None:
    review = commands.add_parser("review", help="manual reviews (人工核查) of verdicts")
    actions = review.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = with_config(
        "add", "record a review: site, check or rule, span, decision, reason", actions
    )
    add.add_argument("--site", required=True)
    subject = add.add_mutually_exclusive_group(required=True)
    subject.add_argument("--check", help="the check reviewed (e.g. home-security)")
    subject.add_argument("--rule", help="the rule or indicator reviewed (e.g. security)")
    add.add_argument("--from", "--start", dest="start", required=True, help="first day or ISO time")
    add.add_argument(
        "--to", "--end", dest="end", required=True, help="last day (included) or ISO time"
    )
    add.add_argument("--decision", required=True, choices=["exempt", "confirm", "reject"])
    add.add_argument("--reason", required=True)
    add.add_argument(
        "--by", "--reviewer", dest="reviewer", help="who reviews (default: the login name)"
    )
    add.add_argument("--json", action="store_true")
    listing = with_config("list", "list reviews in force (--all: withdrawn ones too)", actions)
    listing.add_argument("--site")
    listing.add_argument("--all", action="store_true", help="withdrawn reviews too")
    listing.add_argument("--json", action="store_true")
    withdraw = with_config("withdraw", "withdraw a review (recorded, never deleted)", actions)
    withdraw.add_argument("id", type=int)
    withdraw.add_argument("--reason", required=True)
    withdraw.add_argument(
        "--by", "--reviewer", dest="reviewer", help="who withdraws (default: the login name)"
    )
    withdraw.add_argument("--json", action="store_true")


def _load(path: str | None) -> Config:
    return load_config(config_path(path))


def _run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed, asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _select(config: Config, sites: list[str] | None, checks: list[str] | None) -> list[CheckSpec]:
    selected = [
        check
        for check in config.checks()
        if (not sites or check.site in sites) and (not checks or check.id in checks)
    ]
    if not selected:
        raise ConfigError(f"{config.source}: no check matches --site/--check")
    return selected


def _print_table(results: Sequence[ProbeResult], out: TextIO) -> None:
    header = ("SITE", "CHECK", "TYPE", "OUTCOME", "SECONDS", "DETAIL")
    rows = [
        (r.site, r.check, r.type, str(r.outcome), f"{r.duration_seconds:.3f}", r.detail)
        for r in results
    ]
    for line in _aligned(header, rows):
        print(line, file=out)


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A table as text: the header and one line per row, each column as wide as its widest
    cell but the last, which runs on (a detail or reason of any length)."""
    table = (header, *rows)
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
        for row in table
    ]


def _print_json(values: list[dict[str, Any]]) -> None:
    """`--json`: the values as one indented JSON list, non-ASCII as it is."""
    json.dump(values, sys.stdout, ensure_ascii=False, indent=2)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    """The command; output piped into a reader that stops early (`| head`) ends it quietly."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the guard: a closed pipe shows here, not at exit
    except BrokenPipeError:
        # Nobody reads any more: no traceback, and none at exit when Python flushes stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


def _main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "demo":
        return _demo(args)
    try:
        config = _load(args.config)
        if args.command == "validate":
            checks = sum(len(site.checks) for site in config.sites)
            for warning in config_warnings(config):
                print(f"warning: {warning}", file=sys.stderr)
            print(f"{config.source}: ok ({len(config.sites)} sites, {checks} checks)")
            return EXIT_OK
        selected = _select(config, args.site, args.check) if args.command == "check" else []
        shard = Shard.parse(args.shard) if args.command == "run" else ALL
        if args.command == "run":
            for warning in config_warnings(config):  # a log line: run's stderr is JSON
                structlog.get_logger("monitor").warning("config_warning", warning=warning)
    except (ConfigError, ValueError) as exc:  # ValueError: a bad --shard
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    # Imported here so that `validate` stays light and free of network libraries' start-up.
    from monitor.runtime import ListenError
    from monitor.store import StoreError
    from monitor.store.embedded import EmbeddedError

    try:
        return _command(args, config, selected, shard)
    except (StoreError, ListenError, EmbeddedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _command(
    args: argparse.Namespace, config: Config, selected: list[CheckSpec], shard: Shard
) -> int:
    from monitor.runtime import Runtime, check_once, serve_forever

    if args.command == "check":
        results = _run_loop(check_once(config, selected))
        if args.json:
            _print_json([r.to_json() for r in results])
        else:
            _print_table(results, sys.stdout)
        return EXIT_OK if all(r.success for r in results) else EXIT_FAILED
    if args.command == "run":
        from monitor.store.embedded import DataDirLock

        # One `monitor run` per embedded data directory (replicas share a database by URL).
        lock = (
            None
            if config.storage.database_url.get_secret_value()
            else DataDirLock(config.storage.data_dir)
        )
        if lock is not None:
            lock.acquire()
        try:
            _run_loop(serve_forever(Runtime(config, shard=shard)))
        finally:
            if lock is not None:
                lock.release()
        return EXIT_OK
    if args.command == "migrate":
        from monitor.store import migrate

        applied = _run_loop(migrate(config))
        print(f"applied migrations {', '.join(map(str, applied))}" if applied else "up to date")
        return EXIT_OK
    if args.command == "incidents":
        return _run_loop(_incidents(args, config))
    if args.command == "report":
        return _run_loop(_report(args, config))
    if args.command == "review":
        return _run_loop(_review(args, config))
    raise AssertionError(args.command)


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from monitor.demo import DemoError, run_demo
    from monitor.runtime import ListenError
    from monitor.store import StoreError

    try:
        _run_loop(run_demo(args.listen, Path(args.data_dir), args.pace))
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreError, ListenError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _report(args: argparse.Namespace, config: Config) -> int:
    from monitor.clock import SystemClock
    from monitor.report import (
        OutputError,
        PeriodError,
        ReportError,
        build_report,
        parse_period,
        render,
        save,
    )
    from monitor.store import Store

    try:
        period = parse_period(
            config.timezone, quarter_text=args.quarter, from_text=args.start, to_text=args.end
        )
        store = await Store.open(config, None, SystemClock(), read_only=True)
        try:
            report = await build_report(config, store, period, sites=args.site, kind=args.kind)
        finally:
            await store.close()
        files = save(
            render(report, args.format, args.lang, args.table), args.output, sys.stdout.buffer
        )
    except (PeriodError, ReportError, OutputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for name in files:
        print(f"wrote {name}", file=sys.stderr)
    return EXIT_OK


async def _incidents(args: argparse.Namespace, config: Config) -> int:
    from monitor.clock import SystemClock
    from monitor.store import Store

    zone = ZoneInfo(config.timezone)
    try:
        since = parse_since(args.since, zone) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    store = await Store.open(config, None, SystemClock(), read_only=True)
    try:
        incidents = await store.list_incidents(open_only=args.open, since=since, site=args.site)
    finally:
        await store.close()
    if args.json:
        _print_json([i.to_json(zone) for i in incidents])
    else:
        print("\n".join(incident_table(incidents, zone)))
    return EXIT_OK


async def _review(args: argparse.Namespace, config: Config) -> int:
    import getpass

    from monitor.clock import SystemClock
    from monitor.reviews import NewReview, ReviewError, parse_decision, parse_span
    from monitor.store import Store

    zone = ZoneInfo(config.timezone)
    reviewer = getattr(args, "reviewer", None) or getpass.getuser()
    try:
        new = None
        if args.action == "add":
            start, end = parse_span(args.start, args.end, zone)
            new = NewReview(
                args.site, args.check, args.rule, start, end, parse_decision(args.decision),
                args.reason, reviewer,
            )  # fmt: skip
        # Recording or withdrawing a review writes: that brings the schema up to date first.
        writes = args.action != "list"
        store = await Store.open(config, None, SystemClock(), read_only=True, migrate_schema=writes)
        try:
            if new is not None:
                reviews = [await store.add_review(new)]
            elif args.action == "withdraw":
                reviews = [await store.withdraw_review(args.id, args.reason, reviewer)]
            else:
                reviews = await store.list_reviews(site=args.site, in_force_only=not args.all)
        finally:
            await store.close()
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.json:
        _print_json([r.to_json(zone) for r in reviews])
    else:
        print("\n".join(review_table(reviews, zone)))
    return EXIT_OK


# -- how incidents and reviews are asked for and shown (and the API's ?since=) -------------


def parse_since(text: str, zone: tzinfo) -> datetime:
    """`--since` (and the API's `?since=`): a date or ISO time; without an offset, in `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid --since {text!r} (use a date like 2026-07-01 or 2026-07-01T08:00)"
        ) from None
    moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
    try:
        moment.astimezone(UTC)  # 0001-01-01 east of UTC has no UTC time: out of range
    except OverflowError:
        raise ValueError(f"--since {text!r} is out of range") from None
    return moment


def incident_table(incidents: Iterable[Incident], zone: tzinfo) -> list[str]:
    """`monitor incidents` without --json: one aligned line per incident, times in `zone`."""

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

    header = ("OPENED", "RESOLVED", "SITE", "CHECK", "LOCATION", "REASON", "FAILURES", "FLAGS")
    rows = [
        (
            when(i.opened_at),
            when(i.resolved_at) if i.resolved_at else "open",
            i.site,
            i.check,
            i.location,
            i.reason,
            str(i.failures),
            ",".join(
                flag
                for flag, on in (
                    ("maintenance", i.during_maintenance),
                    ("check-removed", i.resolution == CHECK_REMOVED),
                )
                if on
            ),
        )
        for i in incidents
    ]
    return _aligned(header, rows)


def review_table(reviews: Iterable[Review], zone: tzinfo) -> list[str]:
    """`monitor review list` without --json: one aligned line per review, times in `zone`."""

    def when(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    header = ("ID", "SITE", "SUBJECT", "FROM", "TO", "DECISION", "BY", "AT", "REASON")
    rows = [
        (
            str(r.id),
            r.site,
            r.subject,
            when(r.start),
            when(r.end),
            str(r.decision)
            if r.in_force
            else f"{r.decision} (withdrawn #{r.withdrawn.id})"
            if r.withdrawn
            else str(r.decision),
            r.reviewer,
            when(r.created_at),
            " ".join(r.reason.split()),
        )
        for r in reviews
    ]
    return _aligned(header, rows)
