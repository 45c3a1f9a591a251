"""Read an ARM template (and its parameters file) into the inventory's records, before deployment.

Bicep compiles to this (`az bicep build` / `bicep build`). Resources are read from `resources` (a list, or the
symbolic-name object of `languageVersion` 2.0), nested child resources and `copy` loops included; their
properties are evaluated with the template language's common functions (`parameters`, `variables`,
`concat`, `format`, `resourceId`, `subscriptionResourceId`, `reference`, `if`, `equals`, `not`, `and`, `or`,
`split`, `last`, `first`, `toLower`, `toUpper`, `coalesce`, `empty`, `copyIndex`, `subscription`,
`resourceGroup`). What is known only at deployment (`reference()` of a property the template does not set,
`uniqueString`, `guid`, a Key Vault reference in the parameters) is a `Symbol`. The records are made by the
same mapping as the live crawl's (`collect/mapping.py`), from payloads in the REST shapes the template writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmkaudit.errors import InputError
from cmkaudit.files import TEMPLATE_FILE_LIMIT, parse_json, read_input, read_json_file
from cmkaudit.iac.model import Budget, SourceSpan, Symbol, TokenStream, Unresolved, walk
from cmkaudit.text import printable

SUBSCRIPTION = Symbol("subscription().subscriptionId").text
RESOURCE_GROUP = Symbol("resourceGroup().name").text
TENANT = Symbol("subscription().tenantId").text
MAX_DEPTH = 64
MAX_COPIES = 800
"""The largest `copy` count ARM accepts."""


@dataclass(frozen=True, slots=True)
class ArmResource:
    """One resource of the template (a copy instance, or a nested child made top-level)."""

    id: str
    """Its id as `resourceId()` would give it, subscription and resource group symbolic."""
    type: str
    name: str
    body: Mapping[str, Any]
    copy_index: int | None
    span: SourceSpan | None


@dataclass(frozen=True, slots=True)
class Ref:
    """`reference(...)` of a resource of the template, and the property path after it."""

    resource: ArmResource
    path: tuple[str | int, ...]


def arm_id(type_: str, names: Sequence[str]) -> str:
    """`/subscriptions/S/resourceGroups/G/providers/Ns/type1/name1/type2/name2`, as `resourceId()` builds it."""
    parts = type_.split("/")
    pairs = "/".join(f"{t}/{n}" for t, n in zip(parts[1:], names, strict=False))
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/{parts[0]}/{pairs}"


@dataclass
class ArmTemplate:
    """A template's resources, and how their properties evaluate."""

    path: Path
    document: Mapping[str, Any]
    parameters: Mapping[str, Any]
    resources: list[ArmResource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: Budget = field(default_factory=lambda: Budget("template"))
    _by_id: dict[str, ArmResource] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)
    _plain: dict[int, Any] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict)
    """Parameters' and variables' values, each worked out once (variables that refer to each other many times
    over cost what the template's size does, not an exponential of it)."""
    _shown: str = ""

    # -- values -----------------------------------------------------------------------------------------------

    def evaluate(self, raw: Any, copy_index: int | None = None, depth: int = 0) -> Any:
        """A template value evaluated: literals as they are, `[...]` expressions computed (or Symbols)."""
        if depth > MAX_DEPTH:
            return Symbol("(too deep)")
        try:
            self.budget.step()
        except Unresolved:
            return Symbol("(not evaluated: budget)")
        if isinstance(raw, str):
            if raw.startswith("[[") or not (raw.startswith("[") and raw.endswith("]")):
                return raw[1:] if raw.startswith("[[") else raw
            try:
                parser = _Parser(self, raw[1:-1], copy_index, depth)
                value = parser.expression()
                parser.end()
                return value
            except (Unresolved, RecursionError):
                return Symbol(raw[1:-1].strip())
        if isinstance(raw, list):
            return [self.evaluate(v, copy_index, depth + 1) for v in raw]
        if isinstance(raw, dict):
            return {k: self.evaluate(v, copy_index, depth + 1) for k, v in raw.items()}
        return raw

    def concrete(self, value: Any, depth: int = 0) -> Any:
        """A value with every `Ref` replaced by what it names (a Symbol when the template does not set it).

        A list or object that holds no `Ref` is returned as it is and remembered, so that a value shared many
        times over (a variable used in many places) is walked once."""
        if isinstance(value, Ref):
            return self.concrete(self.value_of(value, depth + 1), depth + 1)
        if not isinstance(value, (list, dict)) or id(value) in self._plain:
            return value
        self.budget.step()
        made: list[Any] | dict[str, Any]
        if isinstance(value, list):
            made = [self.concrete(v, depth + 1) for v in value]
            same = all(a is b for a, b in zip(made, value, strict=True))
        else:
            made = {k: self.concrete(v, depth + 1) for k, v in value.items()}
            same = all(made[k] is v for k, v in value.items())
        if same:
            self._plain[id(value)] = value  # kept alive, so that its id is not reused
            return value
        return made

    def value_of(self, ref: Ref, depth: int = 0) -> Any:
        resource, path = ref.resource, ref.path
        key = f"{resource.id}|{path}"
        if key in self._resolving or depth > MAX_DEPTH:
            return Symbol(f"{resource.id}.{'.'.join(map(str, path))}")
        self._resolving.add(key)
        try:
            found, raw = walk(resource.body, path)
            if found:
                return self.evaluate(raw, resource.copy_index, depth + 1)
        finally:
            self._resolving.discard(key)
        computed = self.computed(resource, path)
        return computed if computed is not None else Symbol(f"{resource.id}.{'.'.join(map(str, path))}")

    def computed(self, resource: ArmResource, path: tuple[str | int, ...]) -> Any:
        """What Azure sets on a resource the template creates, when it is fixed by the template: a vault's URI,
        a key's versionless URI."""
        if resource.type.lower() == "microsoft.keyvault/vaults" and path == ("properties", "vaultUri"):
            return f"https://{resource.name.lower()}.vault.azure.net/"
        if resource.type.lower() == "microsoft.keyvault/vaults/keys" and path == ("properties", "keyUri"):
            vault, _, key = resource.name.partition("/")
            return f"https://{vault.lower()}.vault.azure.net/keys/{key}"
        return None

    def find(self, resource_id: str) -> ArmResource | None:
        return self._by_id.get(resource_id.lower())

    def parameter(self, name: str) -> Any:
        key = f"parameters:{name.lower()}"
        if key in self._resolving:
            return Symbol(f"parameters('{name}')")
        if key not in self._memo:
            self._resolving.add(key)
            try:
                self._memo[key] = self._parameter(name)
            finally:
                self._resolving.discard(key)
        return self._memo[key]

    def _parameter(self, name: str) -> Any:
        if name in self.parameters:
            given = self.parameters[name]
            if isinstance(given, dict) and "reference" in given:
                return Symbol(f"parameters('{name}')")
            return given.get("value") if isinstance(given, dict) else given
        declared = (self.document.get("parameters") or {}).get(name)
        if isinstance(declared, dict) and "defaultValue" in declared:
            return self.evaluate(declared["defaultValue"])
        return Symbol(f"parameters('{name}')")

    def variable(self, name: str, depth: int) -> Any:
        variables = self.document.get("variables") or {}
        key = f"variables:{name}"
        if name not in variables or key in self._resolving:
            return Symbol(f"variables('{name}')")
        if key not in self._memo:
            self._resolving.add(key)
            try:
                self._memo[key] = self.evaluate(variables[name], None, depth + 1)
            finally:
                self._resolving.discard(key)
        return self._memo[key]

    # -- loading ----------------------------------------------------------------------------------------------

    def load(self, text: str) -> ArmTemplate:
        raw = self.document.get("resources")
        listed = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
        resolved, here = self.path.resolve(), Path.cwd().resolve()
        shown = resolved.relative_to(here).as_posix() if resolved.is_relative_to(here) else self.path.name
        spans = _type_lines(text)
        self._shown = shown
        self.budget = Budget(shown)
        for entry in listed:
            if isinstance(entry, dict):
                self._add(entry, None, spans)
        return self

    def _add(self, entry: Mapping[str, Any], parent: ArmResource | None, spans: Iterator[tuple[str, int]]) -> None:
        type_ = entry.get("type")
        if not isinstance(type_, str):
            return
        full_type = f"{parent.type}/{type_}" if parent is not None and "/" not in type_ else type_
        span = _next_span(spans, type_, self._shown)
        for index in self._copies(entry, full_type):
            name = _label(self.evaluate(entry.get("name"), index))
            full_name = f"{parent.name}/{name}" if parent is not None and "/" not in name else name
            resource = ArmResource(
                arm_id(full_type, _names(full_type, full_name)), full_type, full_name, entry, index, span
            )
            self.resources.append(resource)
            self._by_id[resource.id.lower()] = resource
            for child in entry.get("resources") or ():
                if isinstance(child, dict):
                    self._add(child, resource, spans)

    def _copies(self, entry: Mapping[str, Any], type_: str) -> list[int | None]:
        """The copy indexes of a resource: one unindexed instance when there is no loop or its count is known only
        at deployment (it is judged as every copy is), and when the count would pass the budget (a gap)."""
        copy = entry.get("copy")
        where = f"{type_} (copy loop {printable(str(copy.get('name')))})" if isinstance(copy, dict) else type_
        if not isinstance(copy, dict):
            self.budget.take(where, 1)
            return [None]
        count = self.concrete(self.evaluate(copy.get("count")))
        if not isinstance(count, int) or isinstance(count, bool):
            self.notes.append(
                f"copy loop {printable(str(copy.get('name')))}: its count is known only at deployment; "
                "its resources are judged as one"
            )
            self.budget.take(where, 1)
            return [None]
        if count < 0 or count > MAX_COPIES:
            self.budget.gap(
                where,
                f"not expanded: a copy count of {count:,} is outside ARM's 0 to {MAX_COPIES}; judged as one copy",
                "",
            )
            return [None]
        return list(range(count)) if self.budget.take(where, count) else [None]


def _label(name: Any) -> str:
    """A resource's name, or the label of one known only at deployment (its expression as `${...}` text)."""
    if isinstance(name, str):
        return name
    return name.text if isinstance(name, Symbol) else Symbol(printable(str(name))).text


def _names(type_: str, name: str) -> list[str]:
    """The name segments of a resource of type `type_` (one per segment of the type after its namespace)."""
    wanted = max(len(type_.split("/")) - 1, 1)
    if "${" not in name:
        return name.split("/")
    parts = name.split("/")
    if len(parts) == wanted:
        return parts
    return [f"${{parent {i + 1} of {name}}}" for i in range(wanted - 1)] + [name.replace("/", "%2F")]


def _type_lines(text: str) -> Iterator[tuple[str, int]]:
    """Each `"type": "..."` of the file with its line, in order: where each resource block is written (lines
    counted on from the last match, so a large template takes linear time)."""
    line, at = 1, 0
    for match in re.finditer(r'"type"\s*:\s*"((?:[^"\\]|\\.)*)"', text):
        line += text.count("\n", at, match.start())
        at = match.start()
        yield match.group(1), line


def _next_span(spans: Iterator[tuple[str, int]], type_: str, file: str) -> SourceSpan | None:
    for found, line in spans:
        if found == type_:
            return SourceSpan(file, line, line)
    return None


_TOKEN = re.compile(r"\s*(?:(?P<number>-?\d+)|(?P<string>'(?:[^']|'')*')|(?P<op>[(),.\[\]])|(?P<name>[A-Za-z_][\w]*))")


class _Parser(TokenStream):
    def __init__(self, template: ArmTemplate, text: str, copy_index: int | None, depth: int) -> None:
        super().__init__(text, _TOKEN)
        self.template, self.copy_index, self.depth = template, copy_index, depth

    def expression(self) -> Any:
        token = self.take()
        value: Any
        if token.startswith("'"):
            value = token[1:-1].replace("''", "'")
        elif token.lstrip("-").isdigit():
            value = int(token)
        elif self.peek() == "(":
            self.take("(")
            args: list[Any] = []
            while self.peek() != ")":
                args.append(self.expression())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            value = self.call(token, args)
        else:
            raise Unresolved(token)
        while self.peek() in (".", "["):
            if self.take() == ".":
                value = self.member(value, self.take())
            else:
                key = self.template.concrete(self.expression())
                self.take("]")
                value = self.member(value, key)
        return value

    def member(self, value: Any, key: Any) -> Any:
        if isinstance(value, Ref):
            return Ref(value.resource, (*value.path, key))
        value = self.template.concrete(value)
        if isinstance(value, dict) and isinstance(key, str):
            match = next((k for k in value if k.lower() == key.lower()), None)
            if match is not None:
                return value[match]
        if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            return value[key]
        if isinstance(value, Symbol):
            return Symbol(f"{value.expr}.{key}")
        raise Unresolved("member")

    def call(self, name: str, args: list[Any]) -> Any:
        """A function's value; what it builds is charged to the budget (a string past MAX_STRING, or lists whose
        size runs past the steps left, are unknown)."""
        value = self._call(name, args)
        if isinstance(value, str):
            return self.template.budget.string(value)
        if isinstance(value, list):
            self.template.budget.step(len(value))
        return value

    def _call(self, name: str, args: list[Any]) -> Any:
        template = self.template
        values = [template.concrete(a) for a in args]
        symbolic = any(isinstance(v, Symbol) for v in values)
        match name.lower():
            case "parameters" if len(values) == 1 and isinstance(values[0], str):
                return template.parameter(values[0])
            case "variables" if len(values) == 1 and isinstance(values[0], str):
                return template.variable(values[0], self.depth)
            case "copyindex":
                if self.copy_index is None:
                    raise Unresolved("copyIndex")
                offset = values[-1] if values and isinstance(values[-1], int) else 0
                return self.copy_index + offset
            case "subscription":
                return {"subscriptionId": SUBSCRIPTION, "tenantId": TENANT, "id": f"/subscriptions/{SUBSCRIPTION}"}
            case "resourcegroup":
                return {
                    "name": RESOURCE_GROUP,
                    "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}",
                    "location": Symbol("resourceGroup().location").text,
                }
            case "true" | "false":
                return name.lower() == "true"
            case "null":
                return None
            case _ if symbolic and name.lower() not in ("if", "coalesce", "reference", "resourceid"):
                raise Unresolved(name)
            case "uniquestring" | "guid" if values and all(isinstance(v, str) for v in values):
                # A hash of its arguments: unknown before deployment, the same for the same arguments. Its label is
                # the call itself, so that two names made from the same arguments stay one name.
                return Symbol(f"{name}({', '.join(_quoted(v) for v in values)})").text
            case "length" if len(values) == 1 and isinstance(values[0], (str, list, dict)):
                return len(values[0])
            case "createarray":
                return list(values)
            case "concat" if all(isinstance(v, str) for v in values):
                return "".join(values)
            case "concat" if all(isinstance(v, list) for v in values):
                return [item for v in values for item in v]
            case "format" if values and isinstance(values[0], str):
                text = values[0]
                for i, v in enumerate(values[1:]):
                    text = text.replace("{" + str(i) + "}", str(v).lower() if isinstance(v, bool) else str(v))
                return text
            case "resourceid" | "subscriptionresourceid" if values:
                strings = [str(v.text) if isinstance(v, Symbol) else str(v) for v in values]
                type_at = next((i for i, v in enumerate(strings) if "/" in v and "." in v.split("/")[0]), None)
                if type_at is None:
                    raise Unresolved("resourceId")
                type_, names = strings[type_at], strings[type_at + 1 :]
                if name.lower() == "subscriptionresourceid":
                    parts = type_.split("/")
                    pairs = "/".join(f"{t}/{n}" for t, n in zip(parts[1:], names, strict=False))
                    return f"/subscriptions/{SUBSCRIPTION}/providers/{parts[0]}/{pairs}"
                return arm_id(type_, names)
            case "reference" if values:
                target = values[0]
                full = len(values) > 2 and isinstance(values[2], str) and values[2].lower() == "full"
                if isinstance(target, str):
                    found = template.find(target) or next(
                        (r for r in template.resources if r.name.lower() == target.lower()), None
                    )
                    if found is not None:
                        return Ref(found, () if full else ("properties",))
                return Symbol(f"reference({target.text if isinstance(target, Symbol) else target})")
            case "if" if len(values) == 3:
                if isinstance(values[0], bool):
                    return args[1] if values[0] else args[2]
                raise Unresolved("if")
            case "coalesce":
                for value in values:
                    if isinstance(value, Symbol):
                        raise Unresolved("coalesce")
                    if value is not None:
                        return value
                return None
            case "equals" if len(values) == 2:
                return values[0] == values[1]
            case "not" if len(values) == 1 and isinstance(values[0], bool):
                return not values[0]
            case "and" if all(isinstance(v, bool) for v in values):
                return all(values)
            case "or" if all(isinstance(v, bool) for v in values):
                return any(values)
            case "empty" if len(values) == 1:
                return values[0] in (None, "", [], {})
            case "split" if len(values) == 2 and isinstance(values[0], str) and isinstance(values[1], str):
                return values[0].split(values[1])
            case "last" | "first" if len(values) == 1 and isinstance(values[0], (list, str)) and values[0]:
                return values[0][-1] if name.lower() == "last" else values[0][0]
            case "tolower" if len(values) == 1 and isinstance(values[0], str):
                return values[0].lower()
            case "toupper" if len(values) == 1 and isinstance(values[0], str):
                return values[0].upper()
            case "string" if len(values) == 1:
                return values[0] if isinstance(values[0], str) else json.dumps(values[0])
            case "int" if len(values) == 1 and isinstance(values[0], (int, str)):
                try:
                    return int(values[0])
                except ValueError as exc:
                    raise Unresolved("int") from exc
            case "bool" if len(values) == 1 and isinstance(values[0], (bool, str)):
                return values[0] if isinstance(values[0], bool) else values[0].lower() == "true"
            case _:
                pass
        raise Unresolved(name)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Copy(_Shape):
    name: str | None = None
    count: int | str


class _Resource(_Shape):
    type: str
    name: str
    properties: dict[str, Any] | str | None = None
    sku: dict[str, Any] | None = None
    tags: dict[str, Any] | str | None = None
    copy_: _Copy | None = Field(None, alias="copy")
    resources: list[_Resource] = []


class _Template(_Shape):
    """The parts of a deployment template cmkaudit reads, typed as the template schema types them (a string
    property may be a whole `[...]` expression)."""

    parameters: dict[str, dict[str, Any]] = {}
    variables: dict[str, Any] = {}
    resources: list[_Resource] | dict[str, _Resource]


class _Parameters(_Shape):
    parameters: dict[str, Any]


def _checked(path: Path, model: type[BaseModel], document: object, what: str) -> None:
    try:
        model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        # pydantic names the branch of a union it tried (`list[_Resource]`): the path is the template's own.
        where = ".".join(str(part) for part in first["loc"] if "[" not in str(part)) or "(top)"
        message = re.sub(r" or instance of _[A-Za-z]+", "", first["msg"])
        raise InputError(f"{printable(str(path))}: not {what}: {printable(where)}: {printable(message)}") from exc


def read_template(path: Path, parameters_path: Path | None = None) -> ArmTemplate:
    """Read a template and its parameters; anything else is an InputError (one line, exit 2)."""
    if path.suffix.lower() == ".bicep":
        raise InputError(
            f"{printable(str(path))} is Bicep: compile it to an ARM template first",
            f"az bicep build --file {printable(str(path))} (or: bicep build {printable(str(path))}), then pass the "
            ".json it writes",
        )
    data = read_input(path, "ARM template", limit=TEMPLATE_FILE_LIMIT)
    document = parse_json(path, data)
    schema = document.get("$schema") if isinstance(document, dict) else None
    if isinstance(schema, str) and "deploymentParameters" in schema:
        raise InputError(f"{printable(str(path))} is a parameters file: pass it with --parameters")
    if not isinstance(document, dict) or not isinstance(schema, str) or "deploymentTemplate" not in schema:
        raise InputError(
            f"{printable(str(path))} is not an ARM template (no deploymentTemplate $schema)",
            "give the template JSON (az bicep build writes one from a .bicep file)",
        )
    _checked(path, _Template, document, "an ARM template as its schema types it")
    parameters: Mapping[str, Any] = {}
    if parameters_path is not None:
        given = read_json_file(parameters_path, "parameters file", TEMPLATE_FILE_LIMIT)
        _checked(parameters_path, _Parameters, given, "an ARM parameters file")
        parameters = given["parameters"] if isinstance(given, dict) else {}
    return ArmTemplate(path, document, parameters).load(data.decode("utf-8"))  # the bytes read once, above
