"""Save an inventory as versioned JSON and load it back without loss."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
from pydantic import TypeAdapter, ValidationError

from cmkaudit.errors import SnapshotError
from cmkaudit.files import DOCUMENT_FILE_LIMIT, parse_json, read_input, write_json_atomic
from cmkaudit.ids import id_key
from cmkaudit.inventory import Inventory, relinked
from cmkaudit.inventory.aws import oversized
from cmkaudit.inventory.model import SNAPSHOT_SCHEMA_VERSION
from cmkaudit.text import printable

SNAPSHOT_KIND = "cmkaudit.snapshot"

_ADAPTER: TypeAdapter[Inventory] = TypeAdapter(Inventory)
_DECODER = msgspec.json.Decoder(Inventory)
"""Reads a well-formed snapshot into the inventory's dataclasses in one strict pass (faster than pydantic);
anything it rejects goes to pydantic, whose messages say what is wrong."""


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    """The snapshot document: a small envelope around the inventory's JSON form."""
    body = _ADAPTER.dump_python(inventory, mode="json")
    return {"kind": SNAPSHOT_KIND, **body}


def inventory_from_json(document: object, *, origin: str = "snapshot") -> Inventory:
    """Validate a snapshot document back into an Inventory, or raise SnapshotError naming the problem."""
    if not isinstance(document, dict) or document.get("kind") != SNAPSHOT_KIND:
        raise SnapshotError(
            f'{origin} is not a cmkaudit snapshot (no "kind": "{SNAPSHOT_KIND}")',
            "create one with: cmkaudit scan ... --save-snapshot FILE",
        )
    version = document.get("schema_version")
    converted = version == 1
    if converted:
        document = _from_version_1(document)
        version = document["schema_version"]
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise SnapshotError(
            f"{origin} has snapshot schema version {version!r}; this cmkaudit reads version {SNAPSHOT_SCHEMA_VERSION}",
            "re-run the scan with this version of cmkaudit",
        )
    body = {k: v for k, v in document.items() if k != "kind"}
    try:
        inventory = _ADAPTER.validate_python(body)
        # A converted snapshot's links are resolved again: version 2 resolves what version 1 did not.
        return relinked(inventory) if converted else inventory
    except RecursionError as exc:
        raise SnapshotError(f"{origin} is not a valid snapshot: nested too deeply") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SnapshotError(
            f"{origin} is not a valid snapshot: {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from exc


_V1_SOURCES = {"arm": "azure-arm", "resource-graph": "azure-resource-graph"}


def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """A version-1 snapshot in version 2's shape. Version 2 records the provenance as a typed list (`scope.source`,
    "arm" or "resource-graph", becomes `scope.sources`); what version 2 reads that version 1 did not (the role
    assignments of access-policy vaults, a pinned version's type and size, the disk encryption set's key as the
    managed-disk scope's key) is absent, and the controls that need it say so (UNKNOWN) or are judged as before."""
    scope = dict(document.get("scope") or {})
    source = scope.pop("source", "arm")
    scope["sources"] = [_V1_SOURCES.get(str(source), str(source))]
    # Version 1's links are not read: they are resolved again from the records (see inventory_from_json).
    return {**document, "scope": scope, "key_usages": [], "schema_version": 2}


def save_snapshot(inventory: Inventory, path: Path) -> None:
    """Write the inventory to `path` as a versioned JSON snapshot."""
    write_json_atomic(path, inventory_to_json(inventory))


_KIND_NEAR_THE_TOP = re.compile(rb'^\s*\{\s*"kind"\s*:\s*"' + re.escape(SNAPSHOT_KIND.encode()) + rb'"')


def load_snapshot(path: Path) -> Inventory:
    """Read a snapshot written by `save_snapshot`.

    A snapshot as cmkaudit writes it (its "kind" first, the current schema version) is parsed and
    checked against the inventory's types in one strict pass by msgspec. Anything else takes the careful
    path (pydantic), which accepts what it accepted before and whose messages say what is wrong.
    """
    data = read_input(path, "snapshot", limit=DOCUMENT_FILE_LIMIT)
    if _KIND_NEAR_THE_TOP.match(data[:200]):
        try:
            inventory = _DECODER.decode(data)
        except (msgspec.DecodeError, RecursionError):  # also raised for a body that does not match the types
            inventory = None
        if inventory is not None and inventory.schema_version == SNAPSHOT_SCHEMA_VERSION:
            return _linked_whole(inventory, str(path))
    return _linked_whole(inventory_from_json(parse_json(path, data), origin=str(path)), str(path))


def _linked_whole(inventory: Inventory, origin: str) -> Inventory:
    """`inventory`, when the links it carries join records it holds: each workspace has its links, and each link and
    key usage names a workspace of the snapshot (a file edited by hand, or cut, is refused, not half-evaluated)."""
    workspaces = {id_key(w.id) for w in inventory.workspaces}
    linked = {id_key(link.workspace_id) for link in inventory.workspace_links}
    used = {id_key(u.workspace_id) for u in inventory.key_usages}
    aws = {w.id for w in inventory.aws_workspaces}
    problem = (
        "a workspace has no links"
        if workspaces - linked
        else "links name a workspace it does not hold"
        if linked - workspaces
        else "key usages name a workspace it does not hold"
        if used - workspaces
        else "key usages name a workspace on AWS it does not hold"
        if {u.workspace_id for u in inventory.aws_key_usages} - aws
        else "a KMS key policy holds more than any policy AWS accepts"
        if any(oversized(k.policy or ()) for k in inventory.kms_keys)
        else None
    )
    if problem is not None:
        raise SnapshotError(f"{printable(origin)} is not a valid snapshot: {problem}", "save the snapshot again")
    return inventory
