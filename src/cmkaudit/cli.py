"""The command line: parses options into objects, runs the pipeline, and is the only place that exits."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, assert_never

from cmkaudit import __version__
from cmkaudit.errors import CmkauditError, UsageError
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.engine import Outcome, evaluate, outcome
from cmkaudit.evaluate.model import Severity
from cmkaudit.ids import PrincipalId, SubscriptionId, is_guid
from cmkaudit.progress import CrawlObserver, LogFormat, Messages
from cmkaudit.text import printable

if TYPE_CHECKING:
    from cmkaudit.config import ConfigFile
    from cmkaudit.evaluate.catalog import Catalog
    from cmkaudit.inventory import Inventory
    from cmkaudit.report.results import Baseline, ResultsDocument
    from cmkaudit.sources import InventorySource, SourceKind

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130

NO_THRESHOLD = "none"


def _formats(value: str) -> list[str]:
    from cmkaudit.report import ReportFormat

    chosen = [v.strip().lower() for v in value.split(",") if v.strip()]
    known = {f.value for f in ReportFormat}
    unknown = [v for v in chosen if v not in known]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or '(empty)'}; choose from {', '.join(sorted(known))}"
        )
    return list(dict.fromkeys(chosen))


def _positive_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 256")
    return count


def _whole_days(value: str) -> int:
    """A whole number of days; its range is the configuration's (checked where the two are merged)."""
    text = value.strip()
    if not text.lstrip("+-").isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{printable(value)!r} is not a whole number of days")
    return int(text)


def _seconds_between(low: float, high: float) -> Callable[[str], float]:
    def seconds(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{printable(value)!r} is not a number of seconds") from None
        if not low <= number <= high:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{printable(value)} is not between {low:g} and {high:g} seconds")
        return number

    return seconds


def _endpoint(value: str) -> str:
    """An endpoint URL a credential may be sent to (https, a host, no user information)."""
    from cmkaudit.collect.http import checked_endpoint

    try:
        return checked_endpoint(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("messages (stderr)")
    group.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and no log lines, errors only (reports are still written)",
    )
    group.add_argument(
        "--log-format",
        choices=[f.value for f in LogFormat],
        default=LogFormat.TEXT.value,
        help="text (default: a live display on a terminal, log lines otherwise) or json (one JSON object per line)",
    )


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    _add_log_options(parser)
    group = parser.add_argument_group("reporting")
    group.add_argument(
        "--format",
        type=_formats,
        default=["console", "json"],
        metavar="FORMATS",
        help="comma-separated output formats: console, json, sarif, html (default: console,json)",
    )
    group.add_argument(
        "--output-dir",
        type=Path,
        default=Path("cmkaudit-results"),
        help="where report files are written (default: ./cmkaudit-results)",
    )
    group.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity] + [NO_THRESHOLD],
        help="exit 1 when a finding of this severity or higher fails (default: low; 'none' never fails)",
    )
    group.add_argument(
        "--baseline",
        type=Path,
        metavar="RESULTS",
        help="a previous results file: mark failed and unknown findings new or unchanged, and list the resolved",
    )
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file: thresholds, tags, disabled controls, waivers (see docs/configuration.md)",
    )
    group.add_argument(
        "--rotation-days",
        type=_whole_days,
        help="KEY-03/KEY-04: maximum days between key rotations, 1-3650 (default: 90, or the configuration's)",
    )
    group.add_argument(
        "--retention-days",
        type=_whole_days,
        help="KV-02: minimum soft-delete retention in days, 7-90 (default: 90, or the configuration's)",
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are UsageErrors: one line on the CLI's stderr, then exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = _Parser(
        prog="cmkaudit",
        description="Check that Azure Databricks workspaces protect data at rest with keys you control.",
    )
    parser.add_argument("--version", action="version", version=f"cmkaudit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = commands.add_parser("scan", help="collect from Azure (or the demo tenant), evaluate and report")
    source = scan.add_mutually_exclusive_group()
    source.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="subscription id to scan (repeat for several)",
    )
    source.add_argument(
        "--all-subscriptions",
        action="store_true",
        help="scan every subscription the identity can see (disabled ones are skipped, and said so)",
    )
    source.add_argument(
        "--demo",
        nargs="?",
        const="azure",
        choices=["azure", "aws"],
        help="scan a bundled recording, nothing leaves the machine: the Azure demo tenant (the default), or the "
        "Databricks-on-AWS demo account (--demo aws)",
    )
    source.add_argument(
        "--terraform-plan",
        type=Path,
        metavar="PLAN_JSON",
        help="judge a Terraform plan before it is applied: the output of 'terraform show -json plan.out'",
    )
    source.add_argument(
        "--databricks-account",
        metavar="ACCOUNT_ID",
        help="scan a Databricks account on AWS (account API with Databricks unified authentication) and the AWS KMS "
        "keys its key configurations name (boto3's credential chain)",
    )
    scan.add_argument(
        "--databricks-profile", metavar="NAME", help="a ~/.databrickscfg profile for --databricks-account"
    )
    scan.add_argument("--aws-profile", metavar="NAME", help="an AWS profile for reading KMS keys")
    scan.add_argument(
        "--aws-role-arn",
        metavar="ARN",
        help="a read-only role to assume for keys of each AWS account; {account} stands for the key's account id",
    )
    source.add_argument(
        "--arm-template",
        type=Path,
        metavar="TEMPLATE_JSON",
        help="judge an ARM template before deployment (for Bicep, compile it first: az bicep build --file x.bicep)",
    )
    scan.add_argument(
        "--parameters",
        type=Path,
        metavar="PARAMETERS_JSON",
        help="the parameters file of --arm-template",
    )
    scan.add_argument(
        "--terraform-dir",
        type=Path,
        metavar="DIR",
        help="judge a Terraform configuration directory (HCL, local modules followed) without a plan; with "
        "--terraform-plan, locate the plan's resources in its files",
    )
    scan.add_argument(
        "--var-file",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a Terraform variables file for --terraform-dir (repeatable; terraform.tfvars and *.auto.tfvars are "
        "read anyway)",
    )
    scan.add_argument(
        "--cloud",
        default="AzureCloud",
        choices=["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"],
        help="the Azure cloud (default: AzureCloud)",
    )
    scan.add_argument(
        "--arm-endpoint", type=_endpoint, metavar="URL", help="Resource Manager endpoint (Azure Stack, test servers)"
    )
    scan.add_argument(
        "--graph-endpoint", type=_endpoint, metavar="URL", help="Microsoft Graph endpoint (default: the cloud's)"
    )
    scan.add_argument(
        "--databricks-principal-id",
        action="append",
        default=[],
        metavar="[TENANT=]OBJECT_ID",
        help="object id of the AzureDatabricks service principal (instead of a Microsoft Graph lookup)",
    )
    scan.add_argument(
        "--source",
        choices=["arm", "resource-graph"],
        default="arm",
        help="where the lists of workspaces, vaults, disk encryption sets and storage accounts come from: "
        "Resource Manager per subscription (arm, the default) or a few Azure Resource Graph queries for the "
        "whole scope (resource-graph); keys and vault details are read from Resource Manager either way",
    )
    scan.add_argument("--save-snapshot", type=Path, metavar="FILE", help="also save the inventory as a JSON snapshot")
    scan.add_argument(
        "--concurrency",
        type=_positive_count,
        default=16,
        metavar="N",
        help="how many Azure calls may be in flight at once (default: 16; 1 calls one after the other)",
    )
    scan.add_argument(
        "--timeout",
        type=_seconds_between(1, 300),
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for an answer to one request before retrying it (default: 30; each call, its "
        "retries included, ends within 300 s)",
    )
    scan.add_argument(
        "--max-retry-after",
        type=_seconds_between(0, 3600),
        default=120.0,
        metavar="SECONDS",
        help="the longest wait a throttled answer (Retry-After) is granted; a call asked to wait longer is "
        "recorded as throttled (default: 120)",
    )
    _add_report_options(scan)

    controls = commands.add_parser("controls", help="the benchmark: list its controls, or show one in full")
    controls.add_argument(
        "words",
        nargs="*",
        metavar="list | show ID",
        help="'list' (the default) or 'show ID' to print one control in full (e.g. show KEY-03)",
    )
    controls.add_argument(
        "--format",
        dest="catalog_format",
        choices=["console", "json", "markdown"],
        default="console",
        help="console (default), json, or markdown (the benchmark document)",
    )

    render = commands.add_parser("report", help="re-render a results file (--format json) offline")
    render.add_argument("results", type=Path, help="a results file written by 'scan' or 'evaluate' with --format json")
    render.add_argument(
        "--format",
        type=_formats,
        default=["html"],
        metavar="FORMATS",
        help="console, json, sarif, html (default: html)",
    )
    render.add_argument("--output-dir", type=Path, default=Path("cmkaudit-results"), help="where files are written")
    render.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity] + [NO_THRESHOLD],
        help="exit 1 when a finding of this severity or higher failed (default: the threshold the results used)",
    )
    render.add_argument("--baseline", type=Path, metavar="RESULTS", help="compare with a previous results file")
    _add_log_options(render)

    again = commands.add_parser(
        "evaluate", help="evaluate saved snapshots offline (several: the shards of one tenant, merged) and report"
    )
    again.add_argument(
        "snapshot",
        type=Path,
        nargs="+",
        help="snapshots written by 'scan --save-snapshot'; several are merged and evaluated as one scan",
    )
    _add_report_options(again)
    return parser


@dataclass(frozen=True, slots=True)
class Streams:
    """Where the CLI writes; tests pass their own."""

    stdout: TextIO
    stderr: TextIO


def _validated_subscriptions(values: Sequence[str]) -> tuple[SubscriptionId, ...]:
    bad = [v for v in values if not is_guid(v.strip())]
    if bad:
        raise UsageError(
            f"malformed subscription id {bad[0]!r}",
            "a subscription id looks like 00000000-0000-0000-0000-000000000000 (az account list -o table)",
        )
    return tuple(SubscriptionId(v.strip().lower()) for v in values)


def _config(args: argparse.Namespace, catalog: Catalog) -> ConfigFile:
    """The configuration file (or the defaults), with the thresholds the command line overrides, all checked
    against the same bounds."""
    from cmkaudit.config import ConfigFile, load_config

    known = frozenset(c.id for c in catalog)
    config = load_config(args.config, known) if args.config else ConfigFile()
    return config.with_thresholds(
        {"rotation_max_days": "--rotation-days", "soft_delete_min_retention_days": "--retention-days"},
        rotation_max_days=args.rotation_days,
        soft_delete_min_retention_days=args.retention_days,
    )


def _observer(args: argparse.Namespace, messages: Messages) -> CrawlObserver:
    """A live display on a terminal, log lines in a pipeline or with --log-format json, nothing with --quiet."""
    from cmkaudit.progress import LogObserver, RichObserver, SilentObserver

    if messages.quiet:
        return SilentObserver()
    if messages.log_format is LogFormat.TEXT and messages.stream.isatty():
        return RichObserver(messages.stream)
    return LogObserver(messages)


def _source_kind(args: argparse.Namespace) -> SourceKind:
    """Which source the command line asks for: `evaluate` reads snapshots, `scan --demo` the recording."""
    from cmkaudit.sources import SourceKind

    if args.command == "evaluate":
        return SourceKind.SNAPSHOTS
    chosen = [
        args.subscription,
        args.all_subscriptions,
        args.demo,
        args.terraform_plan,
        args.arm_template,
        args.databricks_account,
    ]
    if args.terraform_dir is not None and any(chosen[:3]):
        raise UsageError("--terraform-dir goes alone or with --terraform-plan, not with a live or demo scan")
    if args.terraform_dir is not None and args.arm_template is not None:
        raise UsageError("--terraform-dir goes alone or with --terraform-plan, not with --arm-template")
    if args.parameters is not None and args.arm_template is None:
        raise UsageError("--parameters needs --arm-template")
    if args.var_file and args.terraform_dir is None:
        raise UsageError("--var-file needs --terraform-dir (a plan already holds its variables' values)")
    if args.databricks_account is not None:
        return SourceKind.DATABRICKS_AWS
    if args.arm_template is not None:
        return SourceKind.ARM_TEMPLATE
    if args.terraform_plan is not None:
        return SourceKind.TERRAFORM_PLAN
    if args.terraform_dir is not None:
        return SourceKind.TERRAFORM_CONFIGURATION
    if not any(chosen):
        raise UsageError(
            "say what to scan: --subscription, --all-subscriptions, --demo, --databricks-account, --terraform-plan, "
            "--terraform-dir or --arm-template"
        )
    return SourceKind.DEMO if args.demo else SourceKind.AZURE


_DATABRICKS_ACCOUNT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _principal_ids(args: argparse.Namespace, config: ConfigFile) -> dict[str, PrincipalId]:
    """The AzureDatabricks service principal's object ids: the configuration's, overridden by the command line."""
    from cmkaudit.collect.azure import principal_overrides

    for value in args.databricks_principal_id:
        if not is_guid(value.rpartition("=")[2].strip()):
            raise UsageError(f"--databricks-principal-id {printable(value)!r}: the object id is not a GUID")
    return {**config.principal_ids(), **principal_overrides(args.databricks_principal_id)}


def _source(args: argparse.Namespace, clock: datetime, config: ConfigFile, messages: Messages) -> InventorySource:
    """The source the command line asks for, built from its options."""
    from cmkaudit.sources import SourceKind

    kind = _source_kind(args)
    match kind:
        case SourceKind.AZURE:
            from cmkaudit.collect.azure import Source
            from cmkaudit.collect.http import Cloud, HttpLimits
            from cmkaudit.sources.azure import AzureSource

            principals = _principal_ids(args, config)
            return AzureSource(
                subscriptions=_validated_subscriptions(args.subscription or []),
                all_subscriptions=args.all_subscriptions,
                now=clock,
                cloud=Cloud(args.cloud),
                arm_endpoint=args.arm_endpoint,
                graph_endpoint=args.graph_endpoint,
                databricks_principal_ids=principals,
                concurrency=args.concurrency,
                listing=Source(args.source),
                limits=HttpLimits(read_timeout=args.timeout, max_retry_after=args.max_retry_after),
                observer=_observer(args, messages),
                messages=messages,
            )
        case SourceKind.DEMO:
            from cmkaudit.sources.databricks_aws import DemoAwsSource
            from cmkaudit.sources.demo import DemoSource

            return DemoAwsSource() if args.demo == "aws" else DemoSource()
        case SourceKind.SNAPSHOTS:
            from cmkaudit.sources.snapshots import SnapshotsSource

            return SnapshotsSource(tuple(args.snapshot))
        case SourceKind.TERRAFORM_PLAN:
            from cmkaudit.sources.terraform import TerraformPlanSource

            principals = _principal_ids(args, config)
            return TerraformPlanSource(args.terraform_plan, clock, principals, args.terraform_dir, tuple(args.var_file))
        case SourceKind.DATABRICKS_AWS:
            from cmkaudit.aws.collect import AwsOptions
            from cmkaudit.sources.databricks_aws import DatabricksAwsSource

            if not _DATABRICKS_ACCOUNT.match(args.databricks_account):
                shown = printable(args.databricks_account)
                raise UsageError(f"--databricks-account {shown!r} is not a Databricks account id (a UUID)")
            return DatabricksAwsSource(
                AwsOptions(
                    account_id=args.databricks_account,
                    databricks_profile=args.databricks_profile,
                    aws_profile=args.aws_profile,
                    role_arn=args.aws_role_arn,
                    concurrency=args.concurrency,
                    timeout=args.timeout,
                ),
                clock,
            )
        case SourceKind.ARM_TEMPLATE:
            from cmkaudit.sources.arm_template import ArmTemplateSource

            principals = _principal_ids(args, config)
            return ArmTemplateSource(args.arm_template, clock, args.parameters, principals)
        case SourceKind.TERRAFORM_CONFIGURATION:
            from cmkaudit.sources.terraform import TerraformDirectorySource

            principals = _principal_ids(args, config)
            return TerraformDirectorySource(args.terraform_dir, clock, principals, tuple(args.var_file))
        case _:
            assert_never(kind)


def _exit_code(result: Outcome) -> int:
    if result.failed_at_or_above_threshold:
        return EXIT_FAILED
    if result.incomplete:
        return EXIT_INCOMPLETE
    return EXIT_OK


def _report(
    args: argparse.Namespace,
    inventory: Inventory,
    config: ConfigFile,
    catalog: Catalog,
    streams: Streams,
    messages: Messages,
    keep: list[object] | None,
    baseline: Baseline | None,
    shards_merged: int = 0,
) -> int:
    from cmkaudit.evaluate.waivers import apply_waivers
    from cmkaudit.report import Report
    from cmkaudit.report.results import build_results

    disabled = config.disabled()
    catalog = catalog.without(disabled)
    settings = config.settings()
    evaluated = evaluate(inventory, catalog, settings)
    findings, waivers = apply_waivers(evaluated, config.waiver_list(), inventory.collected_at.date())
    threshold = _threshold(args.fail_on, Severity.LOW)
    result = outcome(findings, inventory, threshold)
    report = Report(inventory, findings, catalog, settings, result, waivers, tuple(sorted(disabled)), shards_merged)
    results = build_results(report)
    _render(args, results, streams, messages, baseline)
    if keep is not None:
        keep.append((report, results))
    return _exit_code(result)


@contextmanager
def _cyclic_gc_paused(*, resume: bool = True) -> Iterator[None]:
    """Evaluation and reports build millions of small objects that hold no reference cycles (records, findings,
    report rows); Python's cyclic collector would walk all of them again and again as they pile up (the
    measurements are in benchmarks/README.md). Reference counting still frees everything; the collector is back
    on when the block ends. The block should hold the call that makes and drops them, so that they are gone by
    then: alive, they would all be walked by the collector's first pass.

    Without `resume`, the collector stays paused: for a caller that keeps those objects alive and ends the
    process next (see `main`), resuming would only pay for that pass."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled and resume:
            gc.enable()


def _threshold(value: str | None, default: Severity | None) -> Severity | None:
    if value is None:
        return default
    return None if value == NO_THRESHOLD else Severity(value)


def _baseline(args: argparse.Namespace) -> Baseline | None:
    """The --baseline file, read first: a wrong file fails before any time is spent on Azure or evaluating, and
    the file's bytes are gone before the evaluation's objects are made. Its hundreds of thousands of findings
    are read with the cyclic collector paused too."""
    from cmkaudit.report import load_baseline

    if not args.baseline:
        return None
    with _cyclic_gc_paused():
        return load_baseline(args.baseline)


def _render(
    args: argparse.Namespace,
    results: ResultsDocument,
    streams: Streams,
    messages: Messages,
    baseline: Baseline | None,
) -> None:
    """Compare with the baseline if one was given, then write every format asked for."""
    from cmkaudit.report import ReportFormat, write_report_set
    from cmkaudit.report.results import compare_with_baseline

    if baseline is not None:
        results = compare_with_baseline(results, baseline)
    formats = [ReportFormat(name) for name in args.format]
    for written in write_report_set(results, formats, args.output_dir, streams.stdout):
        messages.info("wrote", f"wrote {written}", path=str(written), format=written.suffix.lstrip("."))


def _rerender(args: argparse.Namespace, streams: Streams, messages: Messages, keep: list[object] | None = None) -> int:
    """`cmkaudit report`: render a saved results file; the exit code follows the threshold."""
    from cmkaudit.report import load_results

    baseline = _baseline(args)
    results = load_results(args.results)
    threshold = _threshold(args.fail_on, results.settings.fail_on)
    if threshold is not results.settings.fail_on:
        failed = (
            sum(1 for f in results.findings if f.status.value == "FAIL" and f.severity.rank >= threshold.rank)
            if threshold
            else 0
        )
        results = results.model_copy(
            update={
                "settings": results.settings.model_copy(update={"fail_on": threshold}),
                "summary": results.summary.model_copy(update={"failed_at_or_above_threshold": failed}),
            }
        )
    _render(args, results, streams, messages, baseline)
    if keep is not None:
        keep.append(results)
    if results.summary.failed_at_or_above_threshold:
        return EXIT_FAILED
    return EXIT_OK if results.summary.complete else EXIT_INCOMPLETE


def _chosen_control(words: Sequence[str]) -> str | None:
    """The control id from `controls [list | show ID | ID]`, or None for the whole list."""
    rest = list(words)
    if rest and rest[0].lower() == "list" and len(rest) == 1:
        return None
    if rest and rest[0].lower() == "show":
        rest = rest[1:]
        if not rest:
            raise UsageError("'controls show' needs a control id", "for example: cmkaudit controls show KEY-03")
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(rest[1:])}", "see 'cmkaudit controls --help'")
    return rest[0] if rest else None


def _controls(args: argparse.Namespace, streams: Streams) -> int:
    from cmkaudit.report import benchmark

    catalog = load_catalog()
    wanted = _chosen_control(args.words)
    control = catalog.get(wanted) if wanted else None
    if wanted and control is None:
        raise UsageError(f"no control {wanted!r}", f"the controls are {', '.join(c.id for c in catalog)}")
    match args.catalog_format:
        case "json":
            document = control.model_dump(mode="json") if control else benchmark.catalog_json(catalog)
            streams.stdout.write(json.dumps(document, indent=2) + "\n")
        case "markdown":
            streams.stdout.write(
                benchmark.control_markdown(control) if control else benchmark.benchmark_markdown(catalog)
            )
        case _:
            if control:
                benchmark.render_control_console(control, streams.stdout)
            else:
                benchmark.render_catalog_console(catalog, streams.stdout)
    return EXIT_OK


def _command(
    args: argparse.Namespace, streams: Streams, messages: Messages, clock: datetime, keep: list[object] | None
) -> int:
    """Run `report`, `scan` or `evaluate`."""
    if args.command == "report":
        # A large results file is hundreds of thousands of findings: read and rendered with the collector
        # paused, like an evaluation.
        with _cyclic_gc_paused(resume=keep is None):
            return _rerender(args, streams, messages, keep)
    # Broken metadata, configuration or baseline fails before any time is spent on Azure.
    catalog = load_catalog()
    config = _config(args, catalog)
    baseline = _baseline(args)
    source = _source(args, clock, config, messages)
    if args.command == "evaluate":
        # Snapshots are read inside the pause too (a large one is millions of objects), and nothing outlives
        # `_report` but its exit code.
        with _cyclic_gc_paused(resume=keep is None):
            inventory = source.inventory()
            merged = len(args.snapshot) if len(args.snapshot) > 1 else 0
            return _report(args, inventory, config, catalog, streams, messages, keep, baseline, merged)
    inventory = source.inventory()  # a crawl runs with the collector on: its clients and sessions are short-lived
    if args.save_snapshot:
        from cmkaudit.inventory.snapshot import save_snapshot

        save_snapshot(inventory, args.save_snapshot)
        messages.info("wrote", f"wrote snapshot {args.save_snapshot}", path=str(args.save_snapshot))
    with _cyclic_gc_paused(resume=keep is None):
        return _report(args, inventory, config, catalog, streams, messages, keep, baseline)


class _MessagesHandler(logging.Handler):
    """Log records of the Azure SDKs, written as cmkaudit's own warnings (one per line of the record)."""

    def __init__(self, messages: Messages) -> None:
        super().__init__(logging.WARNING)
        self._messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record through `Messages`: it follows --log-format and --quiet like every other line."""
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: say what it was
            text = str(record.msg)
        for line in text.splitlines() or [""]:
            if line.strip():
                self._messages.warning("azure_sdk", line.strip(), logger=record.name)


@contextmanager
def _sdk_warnings_to(messages: Messages) -> Iterator[None]:
    """While the block runs, warnings the Azure, Databricks and AWS SDKs log (azure-identity explaining, line by
    line, why each credential is unavailable, say) go through `messages` instead of Python's last-resort handler,
    which would write them raw to stderr whatever --log-format and --quiet say."""
    handler = _MessagesHandler(messages)
    loggers = [logging.getLogger(name) for name in ("azure", "databricks", "botocore", "boto3")]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, before in zip(loggers, propagate, strict=True):
            logger.removeHandler(handler)
            logger.propagate = before


def run(argv: Sequence[str], streams: Streams, *, now: datetime | None = None, keep: list[object] | None = None) -> int:
    """Run the command line; returns the exit code. Errors become one line on stderr, never a traceback.

    With `keep`, the objects of the evaluation and its report are put there instead of being freed on the
    way out, and Python's cyclic garbage collector is left paused (see `main` and `_cyclic_gc_paused`)."""
    parser = build_parser()
    clock = now or datetime.now(UTC)
    messages = Messages(streams.stderr)  # until the command line says otherwise
    try:
        try:
            args = parser.parse_args(list(argv))
        except SystemExit as exc:  # --help and --version
            return int(exc.code) if isinstance(exc.code, int) else EXIT_OK
        if args.command == "controls":
            return _controls(args, streams)
        messages = Messages(streams.stderr, LogFormat(args.log_format), args.quiet)
        with _sdk_warnings_to(messages):
            return _command(args, streams, messages, clock, keep)
    except CmkauditError as exc:
        messages.error(exc.message, exc.hint)
        return EXIT_USAGE
    except OSError as exc:
        messages.error(f"{exc.strerror or exc}: {exc.filename or ''}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        messages.error("interrupted")
        return EXIT_INTERRUPTED


def main() -> int:
    """Console-script entry point.

    A large tenant's evaluation and report are millions of small objects, and freeing them one at a time on
    the way out takes longer than writing a report. So once a report is written, the process ends at once and
    the operating system takes the memory back in one piece: the report's objects are kept (with the cyclic
    collector still paused, which would otherwise walk them all once more), the output streams flushed, and
    `os._exit` skips the interpreter's clean-up. (The measurements are in benchmarks/README.md.)
    Every file was written and closed (renamed into place) before; when some thread is still running, or
    nothing was reported, the process ends the ordinary way.
    """
    keep: list[object] = []
    code = run(sys.argv[1:], Streams(sys.stdout, sys.stderr), keep=keep)
    if code == EXIT_INTERRUPTED:
        # Calls that were on the wire when Ctrl-C came are abandoned, not awaited: end now (every file was
        # written whole through a rename, or not at all).
        _flush_and_exit(code)
    if not keep or threading.active_count() > 1:
        return code
    _flush_and_exit(code)
    return code  # not reached


def _flush_and_exit(code: int) -> None:
    """Flush the output streams and end the process at once (see `main`); on a closed pipe, return instead and
    let the ordinary exit report it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: let the ordinary exit report it
        return
    os._exit(code)
