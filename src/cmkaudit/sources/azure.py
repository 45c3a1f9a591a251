"""The live Azure source: a read-only crawl of subscriptions through the official SDK clients.

The crawl itself is collect/azure.py (Resource Manager or Azure Resource Graph listing, keys, vault details,
Microsoft Graph); this module turns the command line's choices into a credential, a connection and a collector,
and runs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from cmkaudit.collect.azure import AzureCollector, CollectSettings, Source
from cmkaudit.collect.http import Cloud, HttpLimits
from cmkaudit.errors import CredentialError
from cmkaudit.ids import PrincipalId, SubscriptionId
from cmkaudit.inventory import Inventory
from cmkaudit.progress import CrawlObserver, Messages, SilentObserver
from cmkaudit.text import scrub_secrets


@dataclass(frozen=True, slots=True)
class AzureSource:
    """What to crawl and how: subscriptions (or all the credential can see), the cloud and its endpoints, the
    listing source, concurrency and limits. The credential comes from the environment (CMKAUDIT_ACCESS_TOKEN, or
    DefaultAzureCredential)."""

    subscriptions: Sequence[SubscriptionId]
    all_subscriptions: bool
    now: datetime
    cloud: Cloud = Cloud.PUBLIC
    arm_endpoint: str | None = None
    graph_endpoint: str | None = None
    databricks_principal_ids: Mapping[str, PrincipalId] = field(default_factory=dict)
    concurrency: int = 16
    listing: Source = Source.ARM
    limits: HttpLimits = field(default_factory=HttpLimits)
    observer: CrawlObserver = field(default_factory=SilentObserver)
    messages: Messages | None = None

    def inventory(self) -> Inventory:
        """Get a token (or fail with one clear line), then crawl."""
        from azure.core.exceptions import AzureError

        from cmkaudit.collect.credentials import default_credential
        from cmkaudit.collect.http import endpoints_for, open_connection

        endpoints = endpoints_for(self.cloud, self.arm_endpoint, self.graph_endpoint)
        credential = default_credential(endpoints, os.environ)
        try:
            credential.get_token(endpoints.arm_scope)
        except AzureError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CredentialError(
                f"no Azure token for {endpoints.arm_scope}: {scrub_secrets(first_line)}",
                "sign in with 'az login', use a managed identity, or set CMKAUDIT_ACCESS_TOKEN",
            ) from exc
        settings = CollectSettings(
            databricks_principal_ids=self.databricks_principal_ids, concurrency=self.concurrency, source=self.listing
        )
        observer = self.observer
        with (
            observer if isinstance(observer, AbstractContextManager) else nullcontext(),
            open_connection(credential, endpoints, self.concurrency, observer, self.limits) as connection,
        ):
            collector = AzureCollector(connection, settings, observer)
            subscriptions = tuple(self.subscriptions)
            skipped: list[str] = []
            if self.all_subscriptions:
                discovered, skipped = collector.discover()
                subscriptions = tuple(discovered)
                if self.messages is not None:
                    self.messages.info(
                        "subscriptions_discovered",
                        f"{len(subscriptions)} subscriptions to scan, {len(skipped)} skipped",
                        scanned=len(subscriptions),
                        skipped=len(skipped),
                    )
            return collector.collect(subscriptions, now=self.now, skipped=skipped)
