"""Governance controls (GOV-01, GOV-02): pass_, fail_ and unknown_ cases on small inventories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cmkaudit.evaluate.catalog import Catalog
from cmkaudit.evaluate.checks.governance import (
    check_key_not_shared_across_environments,
    check_sensitive_workspace_scopes,
)
from cmkaudit.evaluate.model import Settings, Status
from cmkaudit.ids import ResourceId
from cmkaudit.inventory.model import (
    Scope,
    ScopeEncryption,
    Workspace,
)

from ..conftest import (
    WORKSPACE_ID,
    inventory,
    workspace,
)
from .helpers import SETTINGS, second_workspace, usage_verdict, workspace_verdict

# --- GOV-01 -----------------------------------------------------------------------------------------


def test_pass_key_not_shared() -> None:
    inv = inventory(workspaces=[workspace(tags={"environment": "prod"})])
    assert usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES).status is Status.PASS


def test_pass_key_shared_within_one_environment() -> None:
    inv = inventory(workspaces=[workspace(tags={"Environment": "Prod"}), second_workspace("prod")])
    assert usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES).status is Status.PASS


@pytest.mark.parametrize("same_key", [True, False])
def test_fail_key_or_vault_shared_across_environments(same_key: bool) -> None:
    inv = inventory(workspaces=[workspace(tags={"environment": "prod"}), second_workspace("dev", same_key=same_key)])
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.FAIL
    assert f"dbw-two (dev, same {'key' if same_key else 'vault'})" in verdict.reason


@pytest.mark.parametrize(("mine", "theirs"), [(None, "dev"), ("prod", None)])
def test_unknown_environment_not_tagged(mine: str | None, theirs: str | None) -> None:
    first = workspace(tags={"environment": mine} if mine else {})
    inv = inventory(workspaces=[first, second_workspace(theirs)])
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES)
    assert verdict.status is Status.UNKNOWN


def test_environment_tag_is_a_setting() -> None:
    first = workspace(tags={"stage": "prod"})
    second = replace(second_workspace(None), tags={"stage": "dev"})
    inv = inventory(workspaces=[first, second])
    settings = Settings(environment_tag="stage")
    verdict = usage_verdict(check_key_not_shared_across_environments, inv, Scope.MANAGED_SERVICES, settings)
    assert verdict.status is Status.FAIL


def test_a_vault_shared_by_many_is_named_in_part_and_counted_in_full() -> None:
    """A central vault: GOV-01 names five of the workspaces sharing it (those of another environment first)
    and counts all of them by environment, so a finding stays small however many share the vault."""
    from cmkaudit.evaluate.checks.governance import LISTED_NEIGHBOURS

    def sharing(i: int, environment: str) -> Workspace:
        return replace(second_workspace(environment), id=ResourceId(f"{WORKSPACE_ID}-{i:02d}"), name=f"dbw-{i:02d}")

    many = [workspace(tags={"environment": "Prod"}), *(sharing(i, "dev" if i % 2 else "prod") for i in range(30))]
    verdict = usage_verdict(check_key_not_shared_across_environments, inventory(workspaces=many), Scope.DBFS_ROOT)
    assert verdict.status is Status.FAIL
    assert verdict.reason.startswith("this Prod workspace shares its key or vault with 15 workspace(s) of another")
    assert verdict.reason.endswith("dbw-09 (dev, same key) and 10 more")
    named = [e for e in verdict.evidence if e.label == "shares the key with"]
    assert [e.value for e in named] == ["dev"] * LISTED_NEIGHBOURS
    assert verdict.evidence[-1].value == ("dev: 15", "Prod: 15")  # case-insensitive, spelled as the first

    alike = [workspace(tags={"environment": "prod"}), *(sharing(i, "prod") for i in range(30))]
    verdict = usage_verdict(check_key_not_shared_across_environments, inventory(workspaces=alike), Scope.DBFS_ROOT)
    assert (verdict.status, verdict.reason) == (Status.PASS, "shared only with 30 other prod workspace(s)")
    assert len(verdict.evidence) == 1 + LISTED_NEIGHBOURS + 1
    assert verdict.evidence[-1].value == ("prod: 30",)


# --- GOV-02 -----------------------------------------------------------------------------------------

SENSITIVE = {"data-classification": "Restricted"}


def test_pass_sensitive_workspace_with_every_scope_on_cmk() -> None:
    inv = inventory(workspaces=[workspace(tags=SENSITIVE)])
    assert workspace_verdict(check_sensitive_workspace_scopes, inv).status is Status.PASS


def test_fail_sensitive_workspace_missing_a_scope() -> None:
    ws = workspace(tags=SENSITIVE, dbfs_root=ScopeEncryption(Scope.DBFS_ROOT, None, None))
    verdict = workspace_verdict(check_sensitive_workspace_scopes, inventory(workspaces=[ws]))
    assert verdict.status is Status.FAIL
    assert "DBX-05" in verdict.reason


def test_unknown_sensitive_workspace_scope_not_verifiable() -> None:
    verdict = workspace_verdict(
        check_sensitive_workspace_scopes, inventory(workspaces=[workspace(tags=SENSITIVE)], accounts=[])
    )
    assert verdict.status is Status.UNKNOWN


def test_not_applicable_when_not_sensitive() -> None:
    ws = workspace(tags={"data-classification": "public"})
    assert (
        workspace_verdict(check_sensitive_workspace_scopes, inventory(workspaces=[ws])).status is Status.NOT_APPLICABLE
    )


def test_sensitive_workspace_raises_scope_severities(catalog: Catalog) -> None:
    from cmkaudit.evaluate.engine import evaluate

    severities = {
        f.control_id: f.severity.value
        for f in evaluate(inventory(workspaces=[workspace(tags=SENSITIVE)]), catalog, SETTINGS)
    }
    assert [severities[c] for c in ("DBX-02", "DBX-03", "DBX-05")] == ["critical"] * 3
    assert severities["DBX-01"] == "high"
    plain = {f.control_id: f.severity.value for f in evaluate(inventory(), catalog, SETTINGS)}
    assert plain["DBX-02"] == "high"
