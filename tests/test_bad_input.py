"""Malformed input from files and the command line: one line naming the file and the place, exit 2, never a
traceback (which would exit 1, and a CI job reads 1 as "findings failed")."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from cmkaudit.cli import Streams, run
from cmkaudit.config import ConfigFile
from cmkaudit.errors import UsageError

from .conftest import NOW, inventory

WAIVER = "waivers:\n  - control: KV-01\n    resource: '*'\n    justification: accepted for a quarter\n    owner: me\n"
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = run(list(argv), Streams(io.StringIO(), err), now=NOW)
    return code, err.getvalue()


def assert_one_clear_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("cmkaudit: hint:")]
    assert len(lines) == 1 and lines[0].startswith("cmkaudit: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (WAIVER + "    expires: 2027-02-30\n", [":6: not valid YAML: 2027-02-30 is not a valid date"]),
        (b"thresholds:\n  rotation_max_days: 90 \xff\n", [":2: not UTF-8 text"]),
        ("thresholds:\n  expiry_warning_days: 1000000000\n", [":2: thresholds.expiry_warning_days", "3650"]),
        ("thresholds:\n  rotation_max_days: " + "9" * 5000 + "\n", [":2: not valid YAML", "not a valid integer"]),
        ("thresholds:\n  rotation_max_days: true\n", [":2: thresholds.rotation_max_days: Input should be"]),
        ("thresholds:\n  rotation_max_days: '30'\n", [":2: thresholds.rotation_max_days: Input should be"]),
        ("thresholds:\n  min_key_size: 1000000\n", [":2: thresholds.min_key_size"]),
        ("tags: " + "[" * 100_000 + "]" * 100_000 + "\n", ["not valid YAML: nested too deeply"]),
    ],
    ids=["february-30", "not-utf8", "huge-threshold", "5000-digits", "boolean", "string", "key-size", "deep"],
)
def test_a_malformed_configuration_is_one_line_naming_the_file(
    tmp_path: Path, content: str | bytes, fragments: list[str]
) -> None:
    config = tmp_path / "cmkaudit.yaml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    code, err = cli("scan", "--demo", "--config", str(config), "--output-dir", str(tmp_path / "out"))
    assert_one_clear_line(code, err, str(config), *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "value", "also_in_config"),
    [
        ("--retention-days", "91", "soft_delete_min_retention_days: 91"),
        ("--retention-days", "6", "soft_delete_min_retention_days: 6"),
        ("--rotation-days", "0", "rotation_max_days: 0"),
        ("--rotation-days", "3651", "rotation_max_days: 3651"),
    ],
)
def test_command_line_and_configuration_share_their_ranges(
    tmp_path: Path, option: str, value: str, also_in_config: str
) -> None:
    """What the file refuses, the option refuses too, naming the option."""
    code, err = cli("scan", "--demo", option, value, "--output-dir", str(tmp_path))
    assert_one_clear_line(code, err, f"{option} {value}: Input should be")
    config = tmp_path / "c.yaml"
    config.write_text(f"thresholds:\n  {also_in_config}\n")
    code, err = cli("scan", "--demo", "--config", str(config), "--output-dir", str(tmp_path))
    assert_one_clear_line(code, err, "Input should be")


def test_the_ranges_accept_their_bounds() -> None:
    config = ConfigFile().with_thresholds(rotation_max_days=3650, soft_delete_min_retention_days=7)
    assert (config.settings().rotation_max_days, config.settings().soft_delete_min_retention_days) == (3650, 7)
    with pytest.raises(UsageError, match=r"thresholds\.rotation_max_days 3651"):
        ConfigFile().with_thresholds(rotation_max_days=3651)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (DEEP_JSON, "nested too deeply"),
        ('{"kind": "cmkaudit.snapshot", "schema_version": 1, "x": ' + DEEP_JSON + "}", "nested too deeply"),
        ('{"kind": "cmkaudit.snapshot", "schema_version": ' + "9" * 5000 + "}", "a number too long to read"),
        (b'{"kind": "cmkaudit.snapshot", "tool_version": "\xff"}', "not UTF-8 text"),
    ],
    ids=["deep", "deep-inside", "5000-digits", "not-utf8"],
)
def test_a_malformed_snapshot_is_one_line(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    snapshot = tmp_path / "snapshot.json"
    if isinstance(content, bytes):
        snapshot.write_bytes(content)
    else:
        snapshot.write_text(content)
    code, err = cli("evaluate", str(snapshot), "--output-dir", str(tmp_path / "out"))
    assert_one_clear_line(code, err, str(snapshot), fragment)


@pytest.mark.parametrize("command", ["report", "baseline"])
def test_a_deeply_nested_results_file_is_one_line(tmp_path: Path, command: str) -> None:
    results = tmp_path / "results.json"
    results.write_text('{"kind": "cmkaudit.results", "schema_version": 2, "findings": ' + DEEP_JSON + "}")
    if command == "report":
        code, err = cli("report", str(results), "--output-dir", str(tmp_path / "out"))
    else:
        code, err = cli("scan", "--demo", "--baseline", str(results), "--output-dir", str(tmp_path / "out"))
    assert_one_clear_line(code, err, str(results), "nested too deeply")


def test_a_snapshot_with_hostile_strings_is_reported_escaped(tmp_path: Path) -> None:
    """`evaluate` of a file: its strings are hostile too (the console escapes them)."""
    from cmkaudit.inventory.snapshot import save_snapshot

    from .conftest import workspace

    snapshot = tmp_path / "s.json"
    save_snapshot(inventory(workspaces=[workspace(name="dbw\x1b[2J\nFAKE")]), snapshot)
    document = json.loads(snapshot.read_text())
    document["scope"]["cloud"] = "AzureCloud\x1b]0;owned\x07"
    document["scope"]["subscriptions"] = ["sub\nFAKE"]
    snapshot.write_text(json.dumps(document))
    out = io.StringIO()
    run(["evaluate", str(snapshot), "--format", "console"], Streams(out, io.StringIO()), now=NOW)
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert not any(line.startswith("FAKE") for line in out.getvalue().splitlines())


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x85", "\u202e", "\u2066", "\x00"])
def test_the_html_shows_control_characters_escaped(tmp_path: Path, char: str) -> None:
    """A right-to-left override in a name would reverse its table cell: the page shows it as the console does."""
    from cmkaudit.inventory.snapshot import save_snapshot

    from .conftest import workspace

    snapshot = tmp_path / "s.json"
    hostile = f"dbw{char}gnp"
    save_snapshot(inventory(workspaces=[workspace(name=hostile, tags={"owner": hostile})]), snapshot)
    run(
        ["evaluate", str(snapshot), "--format", "html", "--output-dir", str(tmp_path)],
        Streams(io.StringIO(), io.StringIO()),
        now=NOW,
    )
    page = (tmp_path / "cmkaudit-report.html").read_text()
    assert char not in page
    assert f"dbw\\{'x' if ord(char) < 0x100 else 'u'}{ord(char):0{2 if ord(char) < 0x100 else 4}x}gnp" in page


def test_sdk_warnings_follow_log_format_and_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With --log-format json --quiet and no credential, stderr holds one JSON error line and nothing else:
    azure-identity's own warnings no longer reach Python's last-resort handler."""
    monkeypatch.delenv("CMKAUDIT_ACCESS_TOKEN", raising=False)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, azd or pwsh to ask
    monkeypatch.setenv("HOME", str(tmp_path))  # no token cache
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/")  # managed identity: refused at once
    monkeypatch.setenv("IDENTITY_HEADER", "x")
    escaped: list[logging.LogRecord] = []  # what would reach Python's own handlers (the last resort: stderr)

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            escaped.append(record)

    catch = Catch(logging.WARNING)
    logging.getLogger().addHandler(catch)
    err = io.StringIO()
    argv = ["scan", "--subscription", "11111111-2222-4333-8444-555555555555", "--log-format", "json", "--quiet"]
    try:
        code = run([*argv, "--output-dir", str(tmp_path / "out")], Streams(io.StringIO(), err), now=NOW)
    finally:
        logging.getLogger().removeHandler(catch)
    assert code == 2
    assert [r.name for r in escaped] == []
    assert capsys.readouterr().err == ""
    (record,) = [json.loads(line) for line in err.getvalue().splitlines()]
    assert record["level"] == "error" and "no Azure token" in record["message"]
    assert logging.getLogger("azure").handlers == [] and logging.getLogger("azure").propagate


def test_sdk_warnings_are_log_lines_without_quiet(tmp_path: Path) -> None:
    from cmkaudit.cli import _sdk_warnings_to
    from cmkaudit.progress import LogFormat, Messages

    stream = io.StringIO()
    with _sdk_warnings_to(Messages(stream, LogFormat.JSON)):
        logging.getLogger("azure.identity._credentials").warning("first line\nsecond \x1b[31mline")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["event"], r["message"]) for r in records] == [
        ("azure_sdk", "first line"),
        ("azure_sdk", "second \\x1b[31mline"),
    ]
