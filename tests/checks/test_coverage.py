"""Every control of the catalogue has its pass_, fail_ and unknown_ cases, in the test module of its area.

The controls come from the catalogue (rules/), and each one's check from the registry: a new control without
its three cases fails here, whatever its id.
"""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from cmkaudit.evaluate import checks as checks_package
from cmkaudit.evaluate.catalog import load_catalog
from cmkaudit.evaluate.checks import (
    AWS_KEY_USAGE_CHECKS,
    AWS_WORKSPACE_CHECKS,
    KEY_USAGE_CHECKS,
    WORKSPACE_CHECKS,
    access,
    aws,
    governance,
    key,
    vault,
    workspace,
)
from cmkaudit.ids import ControlId

from . import test_access, test_aws, test_governance, test_key, test_vault, test_workspace

TESTS_OF_AREA: dict[ModuleType, ModuleType] = {
    workspace: test_workspace,
    vault: test_vault,
    key: test_key,
    access: test_access,
    governance: test_governance,
    aws: test_aws,
}
"""Each module of checks and the test module that mirrors it."""


def _name_of(check: object) -> tuple[ModuleType, str]:
    """Where a registered check is defined, and its name there."""
    for module in TESTS_OF_AREA:
        for name, value in vars(module).items():
            if value is check:
                return module, name
    raise AssertionError(f"{check!r} is not defined in a module of {checks_package.__name__}")


@pytest.mark.parametrize("control", [c.id for c in load_catalog()])
def test_every_control_has_pass_fail_and_unknown_cases(control: str) -> None:
    check = {**WORKSPACE_CHECKS, **KEY_USAGE_CHECKS, **AWS_WORKSPACE_CHECKS, **AWS_KEY_USAGE_CHECKS}[ControlId(control)]
    module, name = _name_of(check)
    tests = TESTS_OF_AREA[module]
    for kind in ("pass", "fail", "unknown"):
        cases = [
            test
            for test_name, test in vars(tests).items()
            if test_name.startswith(f"test_{kind}_") and callable(test) and name in inspect.getsource(test)
        ]
        assert cases, f"{control} ({name}) has no test_{kind}_* case in {tests.__name__}"
