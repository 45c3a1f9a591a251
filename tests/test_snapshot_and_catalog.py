"""Snapshots round-trip without loss; control metadata is validated; durations and ids parse."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmkaudit.errors import MetadataError, SnapshotError
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.durations import duration_days
from cmkaudit.files import write_json_atomic
from cmkaudit.ids import is_guid, parse_arm_id, parse_key_url, vault_host
from cmkaudit.inventory.snapshot import (
    inventory_from_json,
    inventory_to_json,
    load_snapshot,
    save_snapshot,
)

from .conftest import NOW, ROOT, inventory, key, vault


def test_snapshot_round_trip(tmp_path: Path) -> None:
    original = inventory(vaults=[vault(purge_protection_enabled=None)], keys=[key(rotation_policy=None)])
    path = tmp_path / "snap.json"
    save_snapshot(original, path)
    assert load_snapshot(path) == original
    assert not list(tmp_path.glob(".snap.json.*"))  # no temporary file left behind


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(document=_JSON_VALUES)
def test_json_files_are_written_as_json_dumps_writes_them(document: object) -> None:
    """Snapshots and SARIF files: the bytes of `json.dumps(document, indent=2, ensure_ascii=False)`, whatever
    the document holds (numbers keep their text, every string its escapes, empty containers their brackets)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "document.json"
        write_json_atomic(path, document)
        assert path.read_text(encoding="utf-8") == json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def test_snapshot_read_in_one_pass_or_carefully_is_the_same(tmp_path: Path) -> None:
    """The one-pass read is only for snapshots as cmkaudit writes them; reordered or old ones take the careful
    path, which reads the same inventory or names the problem."""
    original = inventory(vaults=[vault(purge_protection_enabled=None)], keys=[key(rotation_policy=None)])
    document = inventory_to_json(original)
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps(dict(reversed(list(document.items())))))  # "kind" last
    assert load_snapshot(reordered) == original
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**document, "schema_version": 0}, indent=2))  # "kind" first, old version
    with pytest.raises(SnapshotError, match="schema version 0"):
        load_snapshot(old)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**document, "workspaces": "not a list"}, indent=2))
    with pytest.raises(SnapshotError, match="not a valid snapshot: workspaces"):
        load_snapshot(broken)


def test_snapshot_one_pass_is_strict_and_the_careful_path_reads_the_rest(tmp_path: Path) -> None:
    """The one-pass read accepts only the types as written; a value the careful path can still read (a number
    written as a string) takes that path and yields the same inventory."""
    original = inventory(vaults=[vault(soft_delete_retention_days=90)])
    document = inventory_to_json(original)
    document["vaults"][0]["soft_delete_retention_days"] = "90"
    lax = tmp_path / "lax.json"
    lax.write_text(json.dumps(document, indent=2))
    assert load_snapshot(lax) == original


RECORDED_TENANTS = [
    ("demo-tenant.yaml", ["6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"]),
    ("permission-denied.yaml", ["2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"]),
    ("cross-subscription-vault.yaml", ["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"]),
]


def test_snapshots_of_recorded_tenants_read_the_same_either_way(tmp_path: Path) -> None:
    """Every kind of record a scan collects (collection errors, principals, role definitions, RBAC and
    access-policy vaults, key versions), read in one pass and carefully: the same inventory as was saved."""
    from cmkaudit.collect.demo import replay_scan

    seen = set()
    for name, subscriptions in RECORDED_TENANTS:
        original = replay_scan(ROOT / "cassettes" / name, subscriptions, now=NOW)  # type: ignore[arg-type]
        seen |= {kind for kind in ("errors", "role_definitions", "principals", "keys") if getattr(original, kind)}
        path = tmp_path / f"{name}.json"
        save_snapshot(original, path)
        assert load_snapshot(path) == original
        assert inventory_from_json(json.loads(path.read_text())) == original
    assert seen == {"errors", "role_definitions", "principals", "keys"}


def test_snapshot_version_is_checked() -> None:
    document = inventory_to_json(inventory())
    document["schema_version"] = 99
    with pytest.raises(SnapshotError, match="schema version 99"):
        inventory_from_json(document)


def test_a_version_1_snapshot_is_read_with_its_conversion() -> None:
    """Version 1 wrote the provenance as a string ("arm" / "resource-graph") and links of its own: it is converted
    (documented in docs/architecture.md) and its links are resolved again."""
    from cmkaudit.inventory.model import Provenance

    current = inventory()
    document = inventory_to_json(current)
    document["schema_version"] = 1
    document["scope"]["source"] = "resource-graph"
    del document["scope"]["sources"]
    for usage in document["key_usages"]:  # version 1 resolved neither of these
        del usage["key_ref_from"], usage["follows_latest"]
    converted = inventory_from_json(document)
    assert converted.scope.sources == (Provenance.AZURE_RESOURCE_GRAPH,)
    assert converted.key_usages == current.key_usages  # resolved again, as version 2 resolves them
    assert converted.vaults == current.vaults and converted.workspaces == current.workspaces


def test_catalog_matches_the_checks() -> None:
    """One control per rule file, named as its file, each with exactly one registered check of its kind."""
    from cmkaudit.evaluate.catalog import AppliesTo
    from cmkaudit.evaluate.checks import KEY_USAGE_CHECKS, WORKSPACE_CHECKS

    catalog = load_catalog()
    ids = [c.id for c in catalog]
    assert ids == sorted(p.stem for p in (ROOT / "rules").glob("*.yaml"))
    assert {c.id for c in catalog if c.applies_to is AppliesTo.WORKSPACE} == set(WORKSPACE_CHECKS)
    assert {c.id for c in catalog if c.applies_to is AppliesTo.KEY_USAGE} == set(KEY_USAGE_CHECKS)


def _copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    target.mkdir()
    for f in (ROOT / "rules").glob("*.yaml"):
        (target / f.name).write_text(f.read_text())
    return target


def test_unknown_metadata_key_is_named(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "KV-01.yaml"
    path.write_text(path.read_text() + "colour: red\n")
    with pytest.raises(MetadataError, match=r"KV-01\.yaml.*colour"):
        load_catalog(rules)


def test_missing_metadata_field_is_named(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "KEY-03.yaml"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("severity")))
    with pytest.raises(MetadataError, match=r"KEY-03\.yaml.*severity"):
        load_catalog(rules)


def test_check_without_metadata(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    (rules / "IAM-02.yaml").unlink()
    with pytest.raises(MetadataError, match=r"checks without metadata.*IAM-02"):
        load_catalog(rules)


def test_metadata_without_check(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    text = (rules / "KV-02.yaml").read_text().replace("id: KV-02", "id: KV-09")
    (rules / "KV-09.yaml").write_text(text)
    with pytest.raises(MetadataError, match=r"KV-09.*no such check"):
        load_catalog(rules)


@pytest.mark.parametrize(
    ("text", "days"),
    [("P90D", 90), ("P1Y", 365), ("P3M", 90), ("P2W", 14), ("PT36H", 1.5), ("p1y2m", 425), ("P1DT12H", 1.5)],
)
def test_durations(text: str, days: float) -> None:
    assert duration_days(text) == pytest.approx(days)


@pytest.mark.parametrize("text", ["", "P", "90D", "PT", "P1H", "ninety", None])
def test_not_durations(text: str | None) -> None:
    assert duration_days(text) is None


def test_ids() -> None:
    assert is_guid("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d") and not is_guid("2ff814a6")
    parsed = parse_arm_id("/subscriptions/S/resourceGroups/G/providers/Microsoft.KeyVault/vaults/V/keys/K")
    assert parsed is not None and (parsed.subscription_id, parsed.resource_group, parsed.name) == ("S", "G", "V")
    assert parse_arm_id("/subscriptions/S") is None
    assert vault_host("https://KV.vault.azure.net:443/") == vault_host("kv.vault.azure.net") == "kv.vault.azure.net"
    url = parse_key_url("https://kv.vault.usgovcloudapi.net/keys/cmk/abc")
    assert url is not None and (url.vault_host, url.name, url.version) == ("kv.vault.usgovcloudapi.net", "cmk", "abc")
    assert parse_key_url("https://kv.vault.azure.net/secrets/s") is None


def test_results_schema_is_itself_valid() -> None:
    import jsonschema

    schema = json.loads((ROOT / "reports" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
