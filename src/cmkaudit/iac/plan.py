"""Read a Terraform plan as `terraform show -json plan.out` writes it (format_version 1.x).

The planned values of every resource instance (root and child modules, `count` and `for_each` instances),
the resources already in state (`prior_state`, data sources read during planning among them), and, for a
value known only after apply (`after_unknown`), the configuration expression it comes from: its first
reference, followed through module inputs (`var.`) and outputs (`module.x.y`) to the resource attribute it
names. Such a value becomes a `Symbol`, so that two attributes taken from the same one are seen as equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from cmkaudit.errors import InputError
from cmkaudit.files import read_json_file
from cmkaudit.iac.model import (
    IacResource,
    SourceSpan,
    Symbol,
    Value,
    config_address,
    instance_address,
    path_text,
    split_reference,
    step,
    walk,
)
from cmkaudit.inventory.model import CollectionError
from cmkaudit.text import printable

_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(?:\[(\d+|"(?:[^"\\]|\\.)*")\])?')
_UNRESOLVABLE = ("local", "each", "count", "path", "terraform", "self")


def module_steps(module: str) -> list[tuple[str, str | int | None]]:
    """`module.a["x"].module.b` as [("a", "x"), ("b", None)]."""
    steps: list[tuple[str, str | int | None]] = []
    for match in _MODULE_STEP.finditer(module):
        raw = match.group(2)
        key: str | int | None = None
        if raw is not None:
            key = int(raw) if raw.isdigit() else raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        steps.append((match.group(1), key))
    return steps


def _module_text(steps: Sequence[tuple[str, str | int | None]]) -> str:
    parts = []
    for call, key in steps:
        parts.append(f"module.{call}" + ("" if key is None else f"[{key}]" if isinstance(key, int) else f'["{key}"]'))
    return ".".join(parts)


def _unknown_at(tree: Any, path: Sequence[str | int]) -> bool:
    """Whether `after_unknown` marks the value at `path` (or a block it is in) as known only after apply."""
    node = tree
    for part in path:
        if node is True:
            return True
        found, node = step(node, part)
        if not found:
            return False
    return node is True


@dataclass
class PlanResolver:
    """The resources of a plan, and how their unknown values are traced to where they come from."""

    resources: list[IacResource]
    configuration: Mapping[str, Any]
    variables: Mapping[str, Any]
    _by_name: dict[tuple[str, str, str, str], list[IacResource]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index()

    @property
    def gaps(self) -> Sequence[CollectionError]:
        """A plan holds every module and instance, expanded by Terraform: nothing is left unread."""
        return ()

    def locate(self, spans: Mapping[str, SourceSpan]) -> None:
        """Give each resource the span of the block that declares it (by its address without instance keys)."""
        self.resources = [
            replace(r, span=spans[config_address(r.address)]) if config_address(r.address) in spans else r
            for r in self.resources
        ]
        self._index()

    def _index(self) -> None:
        self._by_name.clear()
        for resource in self.resources:
            key = (resource.module, resource.mode, resource.type, resource.name)
            self._by_name.setdefault(key, []).append(resource)

    # The configuration of a module (not of an instance: instances share it).
    def _module_config(self, module: str) -> Mapping[str, Any]:
        node: Any = self.configuration.get("root_module", {})
        for call, _key in module_steps(module):
            node = ((node.get("module_calls") or {}).get(call) or {}).get("module") or {}
        return node if isinstance(node, dict) else {}

    def _resource_config(self, resource: IacResource) -> Mapping[str, Any]:
        wanted = f"{'data.' if resource.mode == 'data' else ''}{resource.type}.{resource.name}"
        for entry in self._module_config(resource.module).get("resources") or ():
            if isinstance(entry, dict) and entry.get("address") == wanted:
                return entry
        return {}

    def provider_setting(self, provider: str, name: str) -> Value:
        """A provider block's constant setting (`environment` of azurerm, say)."""
        config = (self.configuration.get("provider_config") or {}).get(provider) or {}
        found, expression = walk(config, ("expressions", name))
        return expression.get("constant_value") if found and isinstance(expression, dict) else None

    def get(self, resource: IacResource, *path: str | int) -> Value:
        """The value at `path`: known, a Symbol (known after apply), or None (not set)."""
        return self._get(resource, tuple(path), depth=0)

    def _get(self, resource: IacResource, path: tuple[str | int, ...], depth: int) -> Value:
        found, value = walk(resource.values, path)
        if found and value is not None:
            return value
        if not _unknown_at(resource.unknown, path):
            return None
        found, expression = walk(self._resource_config(resource).get("expressions") or {}, path)
        if found and isinstance(expression, dict):
            resolved = self._expression(resource.module, expression, resource.index, depth)
            if resolved is not None:
                return resolved
        return Symbol(f"{resource.address}.{path_text(path)}")

    def target(self, resource: IacResource, *path: str | int) -> tuple[IacResource, tuple[str | int, ...]] | None:
        """The resource attribute an attribute's expression refers to (its first reference), across modules."""
        found, expression = walk(self._resource_config(resource).get("expressions") or {}, tuple(path))
        if not (found and isinstance(expression, dict)):
            return None
        return self._target_of(resource.module, expression, resource.index, depth=0)

    def _target_of(
        self, module: str, expression: Mapping[str, Any], index: str | int | None, depth: int
    ) -> tuple[IacResource, tuple[str | int, ...]] | None:
        if depth > 32:
            return None
        for ref in _references(expression):
            parts = split_reference(ref)
            if not parts or parts[0] in _UNRESOLVABLE:
                continue
            if parts[0] == "var" and len(parts) > 1:
                upstream = self._variable_expression(module, str(parts[1]))
                if upstream is None:
                    return None
                return self._target_of(upstream[0], upstream[1], None, depth + 1)
            if parts[0] == "module" and len(parts) > 2:
                downstream = self._output_expression(module, parts)
                if downstream is None:
                    return None
                return self._target_of(downstream[0], downstream[1], None, depth + 1)
            located = self._locate(module, parts, index)
            return located
        return None

    def _expression(self, module: str, expression: Mapping[str, Any], index: str | int | None, depth: int) -> Value:
        if "constant_value" in expression:
            return expression["constant_value"]
        if depth > 32:
            return None
        for ref in _references(expression):
            parts = split_reference(ref)
            if not parts:
                continue
            if parts[0] in _UNRESOLVABLE:
                return Symbol(f"{module + '.' if module else ''}{ref}")
            if parts[0] == "var" and len(parts) > 1:
                if not module:
                    variable = self.variables.get(str(parts[1]))
                    value = variable.get("value") if isinstance(variable, dict) else None
                    return walk(value, parts[2:])[1] if len(parts) > 2 else value
                upstream = self._variable_expression(module, str(parts[1]))
                if upstream is None:
                    return Symbol(f"{module}.{ref}")
                return self._expression(upstream[0], upstream[1], None, depth + 1)
            if parts[0] == "module" and len(parts) > 2:
                downstream = self._output_expression(module, parts)
                if downstream is None:
                    return Symbol(f"{module + '.' if module else ''}{ref}")
                return self._expression(downstream[0], downstream[1], None, depth + 1)
            located = self._locate(module, parts, index)
            if located is None:
                return Symbol(f"{module + '.' if module else ''}{ref}")
            target, attribute = located
            return self._get(target, attribute, depth + 1) if attribute else Symbol(target.address)
        return None

    def _variable_expression(self, module: str, name: str) -> tuple[str, Mapping[str, Any]] | None:
        """The expression a module call passes for input `name`, with the module it is written in."""
        steps = module_steps(module)
        if not steps:
            return None
        parent = _module_text(steps[:-1])
        call = steps[-1][0]
        calls = self._module_config(parent).get("module_calls") or {}
        found, expression = walk(calls, (call, "expressions", name))
        if found and isinstance(expression, dict):
            return parent, expression
        found, default = walk(calls, (call, "module", "variables", name, "default"))
        return (module, {"constant_value": default}) if found else None

    def _output_expression(self, module: str, parts: Sequence[str | int]) -> tuple[str, Mapping[str, Any]] | None:
        """The expression of output `module.x.y` (or `module.x[k].y`), with the module instance it is written in."""
        call = str(parts[1])
        rest = list(parts[2:])
        key: str | int | None = None
        children = self._child_instances(module, call)
        if (rest and not isinstance(rest[0], str)) or (rest and rest[0] not in self._outputs(module, call)):
            key, rest = rest[0], rest[1:]
        if not rest:
            return None
        instance = next((c for c in children if c[1] == key), None) if key is not None else None
        if instance is None and key is None and len(children) == 1:
            instance = children[0]
        if instance is None:
            return None
        found, expression = walk(self._outputs(module, call), (str(rest[0]), "expression"))
        return (instance[0], expression) if found and isinstance(expression, dict) else None

    def _outputs(self, module: str, call: str) -> Mapping[str, Any]:
        calls = self._module_config(module).get("module_calls") or {}
        found, outputs = walk(calls, (call, "module", "outputs"))
        return outputs if found and isinstance(outputs, dict) else {}

    def _child_instances(self, module: str, call: str) -> list[tuple[str, str | int | None]]:
        """The instances of module call `call` made from `module`, as (instance address, key)."""
        depth = len(module_steps(module))
        seen: dict[str, str | int | None] = {}
        for resource in self.resources:
            steps = module_steps(resource.module)
            if len(steps) > depth and _module_text(steps[:depth]) == module and steps[depth][0] == call:
                seen[_module_text(steps[: depth + 1])] = steps[depth][1]
        return list(seen.items())

    def _locate(
        self, module: str, parts: Sequence[str | int], index: str | int | None
    ) -> tuple[IacResource, tuple[str | int, ...]] | None:
        """The resource instance a reference names, and the attribute path after it."""
        mode, rest = ("data", list(parts[1:])) if parts[0] == "data" else ("managed", list(parts))
        if len(rest) < 2:
            return None
        type_, name, rest = str(rest[0]), str(rest[1]), rest[2:]
        instances = self._by_name.get((module, mode, type_, name), [])
        if rest and (isinstance(rest[0], int) or any(i.index == rest[0] for i in instances)):
            wanted, rest = rest[0], rest[1:]
            chosen = next((i for i in instances if i.index == wanted), None)
        elif len(instances) == 1:
            chosen = instances[0]
        else:
            # `each.value` / `count.index` style: the instance with the referring resource's own key, if any.
            chosen = next((i for i in instances if index is not None and i.index == index), None)
        return (chosen, tuple(rest)) if chosen is not None else None


def _module_resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for resource in module.get("resources") or ():
        if isinstance(resource, dict):
            yield resource
    for child in module.get("child_modules") or ():
        if isinstance(child, dict):
            yield from _module_resources(child)


def _instance(raw: Mapping[str, Any], unknown: Mapping[str, Any]) -> IacResource | None:
    address, type_, name = raw.get("address"), raw.get("type"), raw.get("name")
    if not (isinstance(address, str) and isinstance(type_, str) and isinstance(name, str)):
        return None
    mode = raw.get("mode") if raw.get("mode") in ("managed", "data") else "managed"
    index = raw.get("index")
    index = index if isinstance(index, (str, int)) and not isinstance(index, bool) else None
    own = instance_address("", str(mode), type_, name, index)
    module = address[: -len(own) - 1] if address.endswith("." + own) else ""
    values = raw.get("values")
    return IacResource(
        address=address,
        module=module,
        mode=str(mode),
        type=type_,
        name=name,
        index=index,
        values=values if isinstance(values, dict) else {},
        unknown=unknown,
    )


def _references(expression: Mapping[str, Any]) -> list[str]:
    """An expression's `references`: a list of strings in Terraform's JSON output format; anything else is a plan
    cmkaudit does not read (refused, never read as "no reference", which would make the value look unset)."""
    references = expression.get("references")
    if references is None:
        return []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise InputError(
            "not a Terraform plan as terraform show -json writes it: an expression's references are not a list of "
            "strings",
            "write it with: terraform show -json plan.out > plan.json",
        )
    return references


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Resource(_Shape):
    address: str
    mode: Literal["managed", "data"] = "managed"
    type: str
    name: str
    index: int | str | None = None
    values: dict[str, Any] | None = None


class _Module(_Shape):
    resources: list[_Resource] = []
    child_modules: list[_Module] = []


class _Values(_Shape):
    root_module: _Module = _Module()


class _State(_Shape):
    values: _Values | None = None


class _Change(_Shape):
    actions: list[str] = []
    after_unknown: dict[str, Any] | bool | None = None


class _ResourceChange(_Shape):
    address: str
    change: _Change


class _ConfigResource(_Shape):
    address: str
    expressions: dict[str, Any] = {}


class _ModuleCall(_Shape):
    expressions: dict[str, Any] = {}
    module: _ConfigModule | None = None


class _ConfigModule(_Shape):
    resources: list[_ConfigResource] = []
    module_calls: dict[str, _ModuleCall] = {}
    outputs: dict[str, dict[str, Any]] = {}
    variables: dict[str, dict[str, Any]] = {}


class _Configuration(_Shape):
    root_module: _ConfigModule = _ConfigModule()
    provider_config: dict[str, dict[str, Any]] = {}


class _Plan(_Shape):
    """The parts of `terraform show -json` cmkaudit reads, with the types Terraform's JSON output format gives
    them: a file that does not have them is refused before anything is read."""

    format_version: str
    planned_values: _Values | None = None
    prior_state: _State | None = None
    resource_changes: list[_ResourceChange] = []
    configuration: _Configuration | None = None
    variables: dict[str, dict[str, Any]] = {}


def _checked_shape(path: Path, document: dict[str, Any]) -> None:
    try:
        _Plan.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise InputError(
            f"{printable(str(path))}: not a Terraform plan as terraform show -json writes it: {printable(where)}: "
            f"{printable(re.sub(r' or instance of _[A-Za-z]+', '', first['msg']))}",
            "write it with: terraform show -json plan.out > plan.json",
        ) from exc


def read_plan(path: Path) -> PlanResolver:
    """Read `terraform show -json` output; a file that is not one is an InputError (one line, exit 2)."""
    document = read_json_file(path, "Terraform plan")
    if not isinstance(document, dict) or "format_version" not in document:
        raise InputError(
            f"{printable(str(path))}: not a Terraform plan in JSON (no format_version)",
            "write it with: terraform show -json plan.out > plan.json",
        )
    if "planned_values" not in document and "prior_state" not in document:
        raise InputError(
            f"{printable(str(path))}: a Terraform state or configuration, not a plan (no planned_values)",
            "write it with: terraform show -json plan.out > plan.json",
        )
    _checked_shape(path, document)
    version = str(document.get("format_version"))
    if not version.startswith("1."):
        raise InputError(
            f"{printable(str(path))}: Terraform JSON format {printable(version)} is not supported (1.x is)"
        )
    unknown: dict[str, Mapping[str, Any]] = {}
    for change in document.get("resource_changes") or ():
        if isinstance(change, dict) and isinstance(change.get("address"), str):
            after_unknown = change["change"].get("after_unknown")
            if isinstance(after_unknown, dict):
                unknown[change["address"]] = after_unknown
    resources: dict[str, IacResource] = {}
    # Resources in state first (data sources read while planning are there), then what the plan makes of them.
    prior = ((document.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    planned = (document.get("planned_values") or {}).get("root_module") or {}
    for tree in (prior, planned):
        for raw in _module_resources(tree):
            resource = _instance(raw, unknown.get(str(raw.get("address")), {}))
            if resource is not None:
                resources[resource.address] = resource
    for address, after_unknown in unknown.items():
        # A resource whose every value is unknown may be missing from planned_values: keep it, values unknown.
        if address not in resources:
            change = next(c for c in document.get("resource_changes") or () if c.get("address") == address)
            raw = {**change, "values": {}}
            if (change.get("change") or {}).get("actions") not in (["delete"], ["no-op"]):
                resource = _instance(raw, after_unknown)
                if resource is not None:
                    resources[address] = resource
    deleted = {
        c.get("address")
        for c in document.get("resource_changes") or ()
        if isinstance(c, dict) and (c.get("change") or {}).get("actions") == ["delete"]
    }
    configuration = document.get("configuration")
    variables = document.get("variables")
    return PlanResolver(
        resources=[r for a, r in sorted(resources.items()) if a not in deleted],
        configuration=configuration if isinstance(configuration, dict) else {},
        variables=variables if isinstance(variables, dict) else {},
    )
