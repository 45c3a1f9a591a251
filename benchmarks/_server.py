"""A fake tenant served by tools/fakearm.py in a process of its own, so that its CPU is neither the scanner's nor
the benchmark's, and is measured (rusage of that process) beside the scanner's."""

from __future__ import annotations

import multiprocessing
import resource
from dataclasses import dataclass, field
from typing import Any


def _serve(spec: dict[str, Any], pipe: Any) -> None:
    """Serve the tenant `spec` describes until told to stop; answer for its URL, CA, calls and own CPU time."""
    from tools.fakearm import FakeArm, Faults, generate_tenant

    tenant = generate_tenant(spec["subscriptions"], spec["workspaces"], central_vaults=spec["central_vaults"])
    with FakeArm(tenant, Faults(latency=spec["latency"])) as arm:
        pipe.send((arm.url, str(arm.ca_file), list(tenant.subscriptions)))
        while True:
            message = pipe.recv()
            if message == "count":
                pipe.send(len(arm.requests))
            elif message == "cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                pipe.send(usage.ru_utime + usage.ru_stime)
            else:
                return


@dataclass
class ServedTenant:
    """The handle of a served tenant: `url`, `ca_file`, `subscriptions`; `calls()` and `cpu()` ask the server."""

    subscriptions: int
    workspaces: int
    latency: float = 0.0
    central_vaults: int = 0
    url: str = field(init=False, default="")
    ca_file: str = field(init=False, default="")
    subscription_ids: list[str] = field(init=False, default_factory=list)

    def __enter__(self) -> ServedTenant:
        self._pipe, theirs = multiprocessing.Pipe()
        spec = {
            "subscriptions": self.subscriptions,
            "workspaces": self.workspaces,
            "latency": self.latency,
            "central_vaults": self.central_vaults,
        }
        self._process = multiprocessing.Process(target=_serve, args=(spec, theirs), daemon=True)
        self._process.start()
        self.url, self.ca_file, self.subscription_ids = self._pipe.recv()
        return self

    def _ask(self, message: str) -> Any:
        self._pipe.send(message)
        return self._pipe.recv()

    def calls(self) -> int:
        """The calls the server has answered so far."""
        return int(self._ask("count"))

    def cpu(self) -> float:
        """The server process's CPU time so far (user + system), in seconds."""
        return float(self._ask("cpu"))

    def __exit__(self, *args: object) -> None:
        self._pipe.send("stop")
        self._process.join()
