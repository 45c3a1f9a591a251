"""The configuration file (`--config cmkaudit.yaml`): thresholds, tags, enabled controls and waivers.

Validated when loaded; an error names the file, the line and the problem. Its JSON schema is
`docs/config.schema.json` (generated from `ConfigFile`, and checked against it by the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from cmkaudit.errors import UsageError
from cmkaudit.evaluate.model import Settings
from cmkaudit.evaluate.waivers import Waiver
from cmkaudit.files import CONFIG_FILE_LIMIT, read_input
from cmkaudit.ids import ControlId, PrincipalId
from cmkaudit.inventory.model import Scope
from cmkaudit.text import printable

ControlIdText = Annotated[str, Field(pattern=r"^[A-Za-z]{2,4}-\d{2}$")]
Guid = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
AwsPrincipal = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/*-]+$")]
"""An AWS IAM principal ARN (a role, a user, an account root)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULTS = Settings()
"""The thresholds and tags when nothing is configured: `Settings`' own defaults, the one place they are set."""
ROTATION_DAYS = (1, 3650)
RETENTION_DAYS = (7, 90)
"""Key Vault's own range for soft-delete retention."""
KEY_SIZE = (2048, 16384)
EXPIRY_WARNING_DAYS = (0, 3650)


class Thresholds(_Strict):
    """Numbers the controls are judged against (whole numbers: `true` or "90" is refused, not read as one)."""

    rotation_max_days: StrictInt = Field(
        DEFAULTS.rotation_max_days,
        ge=ROTATION_DAYS[0],
        le=ROTATION_DAYS[1],
        description="KEY-03/KEY-04: maximum days between rotations (1-3650)",
    )
    soft_delete_min_retention_days: StrictInt = Field(
        DEFAULTS.soft_delete_min_retention_days,
        ge=RETENTION_DAYS[0],
        le=RETENTION_DAYS[1],
        description="KV-02: minimum retention (7-90)",
    )
    min_key_size: StrictInt = Field(
        DEFAULTS.min_key_size,
        ge=KEY_SIZE[0],
        le=KEY_SIZE[1],
        description="KEY-01: smallest acceptable RSA key size (2048-16384)",
    )
    expiry_warning_days: StrictInt = Field(
        DEFAULTS.expiry_warning_days,
        ge=EXPIRY_WARNING_DAYS[0],
        le=EXPIRY_WARNING_DAYS[1],
        description="KEY-02: fail when the version expires this soon (0-3650)",
    )


class Tags(_Strict):
    """Which workspace tags carry the environment and the data classification."""

    environment: str = Field(DEFAULTS.environment_tag, min_length=1, description="GOV-01: the environment tag")
    sensitivity: str = Field(DEFAULTS.sensitivity_tag, min_length=1, description="GOV-02: the classification tag")
    sensitive_values: tuple[str, ...] = Field(
        DEFAULTS.sensitive_values, min_length=1, description="GOV-02: values that make a workspace sensitive"
    )


class Controls(_Strict):
    """Which controls run."""

    disable: tuple[ControlIdText, ...] = Field((), description="control ids not to evaluate")


class WaiverEntry(_Strict):
    """An accepted risk: matching findings are SUPPRESSED until `expires`."""

    control: ControlIdText
    resource: str = Field(
        min_length=1,
        description="ARM resource id of the workspace, or a glob pattern over it (* and ?), case-insensitive",
    )
    scope: Scope | None = Field(None, description="only this encryption scope (managedServices, managedDisk, dbfsRoot)")
    justification: str = Field(min_length=10, description="why the risk is accepted")
    owner: str = Field(min_length=1, description="who accepted it")
    expires: date = Field(description="the last day the waiver applies (YYYY-MM-DD)")


class ConfigFile(_Strict):
    """The whole configuration file."""

    version: Literal[1] = 1
    thresholds: Thresholds = Thresholds()
    tags: Tags = Tags()
    controls: Controls = Controls()
    break_glass_principals: tuple[Guid | AwsPrincipal, ...] = Field(
        (),
        description="IAM-03: object ids (users, groups, service principals) allowed to purge or administer keys; "
        "AWS-10: IAM principal ARNs allowed to delete, disable or re-policy KMS keys",
    )
    databricks_principal_ids: dict[str, Guid] = Field(
        default_factory=dict,
        description="AzureDatabricks service principal object id per tenant id ('*' for any tenant)",
    )
    databricks_aws_principals: dict[Literal["aws", "aws-us-gov", "aws-cn"], AwsPrincipal] = Field(
        default_factory=dict,
        description="AWS-08/AWS-09: Databricks' AWS principal per partition, for a partition whose principal is not "
        "built in (the commercial one is: arn:aws:iam::414351767826:root)",
    )
    waivers: tuple[WaiverEntry, ...] = ()

    def with_thresholds(self, names: Mapping[str, str] | None = None, **overrides: int | None) -> ConfigFile:
        """This configuration with some thresholds replaced (the command line's `--rotation-days`, say), checked
        against the same bounds as the file's; raise UsageError naming the threshold (by `names`, if given) and
        what is wrong with it."""
        chosen = {name: value for name, value in overrides.items() if value is not None}
        if not chosen:
            return self
        try:
            thresholds = Thresholds.model_validate({**self.thresholds.model_dump(), **chosen})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            shown = (names or {}).get(name, f"thresholds.{name}")
            raise UsageError(f"{shown} {chosen.get(name)}: {first['msg']}") from exc
        return self.model_copy(update={"thresholds": thresholds})

    def settings(self) -> Settings:
        """The evaluation settings this file asks for."""
        return Settings(
            rotation_max_days=self.thresholds.rotation_max_days,
            soft_delete_min_retention_days=self.thresholds.soft_delete_min_retention_days,
            min_key_size=self.thresholds.min_key_size,
            expiry_warning_days=self.thresholds.expiry_warning_days,
            environment_tag=self.tags.environment,
            sensitivity_tag=self.tags.sensitivity,
            sensitive_values=self.tags.sensitive_values,
            break_glass_principals=self.break_glass_principals,
            databricks_aws_principals=tuple(sorted(self.databricks_aws_principals.items())),
        )

    def waiver_list(self) -> tuple[Waiver, ...]:
        """The waivers, in file order."""
        return tuple(
            Waiver(ControlId(w.control.upper()), w.resource, w.scope, w.justification, w.owner, w.expires)
            for w in self.waivers
        )

    def disabled(self) -> frozenset[ControlId]:
        """Control ids not to evaluate."""
        return frozenset(ControlId(c.upper()) for c in self.controls.disable)

    def principal_ids(self) -> dict[str, PrincipalId]:
        """AzureDatabricks object ids by tenant."""
        return {tenant: PrincipalId(oid) for tenant, oid in self.databricks_principal_ids.items()}


def _line_of(node: yaml.Node | None, location: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at `location` (as pydantic reports it), or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if child is None:
                key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, with a value it cannot build (the 30th of February, an integer of thousands of digits)
    reported as a YAML error at its line instead of escaping as an exception of Python's."""


def _checked(what: str, build: Callable[[yaml.SafeLoader, yaml.Node], Any]) -> Callable[[yaml.SafeLoader, Any], Any]:
    def construct(loader: yaml.SafeLoader, node: Any) -> Any:
        try:
            return build(loader, node)
        except (ValueError, OverflowError) as exc:
            value = str(node.value)
            shown = printable(value if len(value) <= 40 else f"{value[:20]}...({len(value)} characters)")
            detail = "too long" if len(value) > 40 else str(exc)
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} is not a valid {what} ({detail})", node.start_mark
            ) from exc

    return construct


for _tag, _what in (("timestamp", "date"), ("int", "integer"), ("float", "number")):
    _ConfigLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _checked(_what, yaml.SafeLoader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"])
    )


def parse_config(text: str, origin: str, known_controls: frozenset[str]) -> ConfigFile:
    """Validate configuration text; raise UsageError naming the line and the problem."""
    try:
        loader = _ConfigLoader(text)
        try:
            root = loader.get_single_node()
            document = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{where}: not valid YAML: {printable(problem)}") from exc
    except RecursionError as exc:
        raise UsageError(f"{origin}: not valid YAML: nested too deeply") from exc
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise UsageError(f"{origin}:1: the configuration must be a mapping (key: value)")
    try:
        config = ConfigFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = [p for p in first["loc"] if isinstance(p, int | str)]
        line = _line_of(root, location)
        path = ".".join(str(p) for p in location) or "(top level)"
        raise UsageError(
            f"{origin}:{line or 1}: {path}: {first['msg']}",
            "the settings are documented in docs/configuration.md",
        ) from exc
    for where, ids in (("controls.disable", config.controls.disable), ("waivers", [w.control for w in config.waivers])):
        unknown = sorted({c.upper() for c in ids} - known_controls)
        if unknown:
            line = _line_of(root, where.split(".")) or 1
            raise UsageError(
                f"{origin}:{line}: {where}: unknown control {', '.join(unknown)}",
                "list the controls with: cmkaudit controls",
            )
    return config


def load_config(path: Path, known_controls: frozenset[str]) -> ConfigFile:
    """Read and validate a configuration file."""
    data = read_input(path, "configuration", limit=CONFIG_FILE_LIMIT, error=UsageError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: not UTF-8 text (byte {exc.start + 1}: {exc.reason})") from exc
    return parse_config(text, str(path), known_controls)
