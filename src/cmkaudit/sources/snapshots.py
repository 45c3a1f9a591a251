"""The snapshot source: inventories saved by `scan --save-snapshot`, one or several merged into one.

A large tenant is scanned as a matrix of jobs, each saving the snapshot of its share of the subscriptions;
a final job evaluates them together (inventory/merge.py), so that what spans shards (a workspace's key in a
vault another shard listed, a key shared across environments) is judged as if one scan had seen it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cmkaudit.inventory import Inventory
from cmkaudit.inventory.merge import Shard, merge_inventories
from cmkaudit.inventory.snapshot import load_snapshot


@dataclass(frozen=True, slots=True)
class SnapshotsSource:
    """Saved snapshots, merged when there are several."""

    paths: Sequence[Path]

    def inventory(self) -> Inventory:
        """Read every snapshot (each checked as it is read) and merge them."""
        return merge_inventories([Shard(str(path), load_snapshot(path)) for path in self.paths])
