"""The product's error model: one base error with a message and a hint; only the CLI exits."""

from __future__ import annotations


class CmkauditError(Exception):
    """Base of every error cmkaudit raises on purpose.

    `message` says what went wrong in one line; `hint` says what the user can do about it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CmkauditError):
    """Bad command-line input or configuration (exit code 2)."""


class SnapshotError(CmkauditError):
    """A snapshot or results file could not be read or does not match the schema."""


class InputError(CmkauditError):
    """An input file (a Terraform plan, a configuration directory, a template) that cmkaudit cannot read (exit 2)."""


class CredentialError(CmkauditError):
    """No usable Azure credential."""


class CollectionFailure(CmkauditError):
    """The scan cannot start: not even the list of what to scan could be read."""


class WriteBlockedError(CmkauditError):
    """A request other than GET/HEAD reached the HTTP transport; cmkaudit never writes to Azure."""


class MetadataError(CmkauditError):
    """Control metadata under rules/ is missing, malformed or out of step with the checks."""
