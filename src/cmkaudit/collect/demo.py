"""Replay a recorded tenant through the real crawler: the demo, and the cassette-based tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cmkaudit._data import data_path
from cmkaudit.collect.azure import AzureCollector, CollectSettings
from cmkaudit.collect.credentials import OfflineDemoCredential
from cmkaudit.collect.http import Cloud, endpoints_for, open_connection
from cmkaudit.errors import UsageError
from cmkaudit.ids import SubscriptionId
from cmkaudit.inventory import Inventory
from cmkaudit.inventory.model import Provenance

DEMO_CASSETTE = ("cassettes", "demo-tenant.yaml")
DEMO_SUBSCRIPTIONS = (SubscriptionId("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"),)
DEMO_RECORDED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
"""When the demo tenant was recorded: a replay is evaluated as of then (key ages and expiry included)."""

MATCH_ON = ("method", "scheme", "host", "port", "path", "query")


def replay_scan(
    cassette: Path,
    subscriptions: Sequence[SubscriptionId],
    *,
    now: datetime,
    settings: CollectSettings | None = None,
) -> Inventory:
    """Run the real collector with every HTTP exchange answered from `cassette` (nothing leaves the host).

    A request the cassette does not hold fails the scan loudly instead of reaching the network.
    """
    import vcr

    if not cassette.is_file():
        raise UsageError(f"recorded tenant {cassette} not found", "reinstall cmkaudit")
    recorder = vcr.VCR(record_mode="none", match_on=MATCH_ON, decode_compressed_response=True)
    # A recording is replayed one call at a time: the cassette's playback is not made for threads.
    sequential = replace(settings or CollectSettings(), concurrency=1)
    with (
        recorder.use_cassette(str(cassette)),
        open_connection(OfflineDemoCredential(), endpoints_for(Cloud.PUBLIC)) as connection,
    ):
        inventory = AzureCollector(connection, sequential).collect(subscriptions, now=now)
    return replace(inventory, scope=replace(inventory.scope, sources=(Provenance.AZURE_RECORDING,)))


def demo_scan() -> Inventory:
    """Scan the bundled demo tenant, as of the time it was recorded."""
    return replay_scan(data_path(*DEMO_CASSETTE), DEMO_SUBSCRIPTIONS, now=DEMO_RECORDED_AT)
