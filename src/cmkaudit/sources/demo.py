"""The demo source: the bundled recorded tenant, replayed through the real crawler and SDK clients."""

from __future__ import annotations

from dataclasses import dataclass

from cmkaudit.inventory import Inventory


@dataclass(frozen=True, slots=True)
class DemoSource:
    """The recorded demo tenant (cassettes/demo-tenant.yaml), as of the time it was recorded."""

    def inventory(self) -> Inventory:
        """Replay the recording; nothing leaves the machine."""
        from cmkaudit.collect.demo import demo_scan

        return demo_scan()
