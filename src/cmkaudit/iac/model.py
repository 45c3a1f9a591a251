"""What the readers of infrastructure as code yield: resources with their values, and symbols for what is known
only after apply."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cmkaudit.inventory.model import CollectionError


@dataclass(frozen=True, slots=True)
class Symbol:
    """A value known only after apply, named by the fully qualified expression it comes from
    (`module.cmk.azurerm_key_vault_key.this.id`). Two symbols with the same expression are the same value."""

    expr: str

    @property
    def text(self) -> str:
        """How the inventory and the reports write it: as Terraform writes an interpolation."""
        return "${" + self.expr + "}"


SYMBOL_PREFIX = "${"


def is_symbolic(value: str | None) -> bool:
    """Whether a string of the inventory stands for a value known only after apply (see `Symbol.text`)."""
    return value is not None and value.startswith(SYMBOL_PREFIX)


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """Where a resource is declared: a file (relative to the directory given) and its lines, 1-based."""

    file: str
    start_line: int
    end_line: int


@dataclass(frozen=True, slots=True)
class IacResource:
    """One resource instance (or data source) of the configuration."""

    address: str
    """The full instance address: `module.ws["prod"].azurerm_key_vault.this`."""
    module: str
    """The module instance it belongs to (`module.ws["prod"]`), "" for the root module."""
    mode: str
    """"managed" or "data"."""
    type: str
    name: str
    index: str | int | None
    """The `count` index or `for_each` key of the instance, None for a single instance."""
    values: Mapping[str, Any]
    """The values known before apply (nested blocks as lists of objects)."""
    unknown: Mapping[str, Any] = field(default_factory=dict)
    """Which values are known only after apply (Terraform's `after_unknown` tree)."""
    span: SourceSpan | None = None


Value = Any
"""A known value (str, bool, int, float, list, dict), a `Symbol`, or None (not set)."""


class Resolver(Protocol):
    """What the mapping asks of a reader: each resource's values, and where unknown ones come from."""

    @property
    def resources(self) -> Sequence[IacResource]:
        """Every resource instance and data source of the configuration."""
        ...

    @property
    def gaps(self) -> Sequence[CollectionError]:
        """What the configuration holds that was not read, so far (evaluation may find more)."""
        ...

    def get(self, resource: IacResource, *path: str | int) -> Value:
        """The value of an attribute (a path into nested blocks): known, a `Symbol`, or None when not set."""
        ...

    def target(self, resource: IacResource, *path: str | int) -> tuple[IacResource, tuple[str | int, ...]] | None:
        """The resource (and its attribute) an attribute's value is taken from, when it is a reference to one."""
        ...


_SEGMENT = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def split_reference(text: str) -> tuple[str | int, ...] | None:
    """`a.b[0].c["k"]` as ("a", "b", 0, "c", "k"); also `a.b.0.c` (HCL's legacy index). None when not a
    plain reference."""
    parts: list[str | int] = []
    at = 0
    while at < len(text):
        match = _SEGMENT.match(text, at)
        if match is None or match.end() == at:
            if text[at] == "." and text[at + 1 : at + 2].isdigit():
                end = at + 1
                while end < len(text) and text[end].isdigit():
                    end += 1
                parts.append(int(text[at + 1 : end]))
                at = end
                continue
            return None
        name, number, key = match.groups()
        parts.append(name if name is not None else int(number) if number is not None else key)
        at = match.end()
    return tuple(parts) if parts else None


def path_text(path: Sequence[str | int]) -> str:
    """The inverse of `split_reference`: ("a", 0, "b") as `a[0].b`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return text


def instance_address(module: str, mode: str, type_: str, name: str, index: str | int | None) -> str:
    """A resource instance's address as Terraform writes it."""
    base = f"{module + '.' if module else ''}{'data.' if mode == 'data' else ''}{type_}.{name}"
    if index is None:
        return base
    return f"{base}[{index}]" if isinstance(index, int) else f'{base}["{index}"]'


def step(node: Any, part: str | int) -> tuple[bool, Any]:
    """One step into a dict (by key) or a list (by index): (found, value)."""
    if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
        return True, node[part]
    if isinstance(part, str) and isinstance(node, dict) and part in node:
        return True, node[part]
    return False, None


def walk(tree: Any, path: Sequence[str | int]) -> tuple[bool, Any]:
    """Follow `path` into nested dicts and lists: (found, value)."""
    node = tree
    for part in path:
        found, node = step(node, part)
        if not found:
            return False, None
    return True, node


_INSTANCE_KEY = re.compile(r'\[(?:\d+|"(?:[^"\\]|\\.)*")\]')


def config_address(address: str) -> str:
    """An instance address without its `count` / `for_each` keys: the address of the block that declares it."""
    return _INSTANCE_KEY.sub("", address)


class Unresolved(Exception):
    """An expression a reader does not evaluate: its value is then a `Symbol`."""


MAX_INSTANCES = 20_000
"""The most resource and module instances (Terraform) or resource copies (ARM) one configuration is expanded
into; blocks past it are not expanded, and the scan says so."""
MAX_STEPS = 2_000_000
"""The most evaluation steps (an expression, a template, a value walked) for one configuration."""
MAX_STRING = 1024 * 1024
"""The longest string an expression may build, in characters."""
MAX_MODULE_DEPTH = 16
"""How deep module calls (Terraform) or nested deployments (ARM) may nest."""


@dataclass
class Budget:
    """The work reading one configuration may do (see MAX_INSTANCES, MAX_STEPS, MAX_STRING), and what it could not
    read: a gap makes the scan incomplete (exit 3) and is shown in the coverage section of every report, naming
    where it is and why."""

    file: str
    """The configuration's directory or template, for the gaps that concern the whole of it."""
    instances: int = MAX_INSTANCES
    steps: int = MAX_STEPS
    gaps: list[tuple[str, str, str]] = field(default_factory=list)
    """(where, what was not read and why, what to do about it)."""
    _spent: bool = False

    def step(self, weight: int = 1) -> None:
        """Count `weight` steps of evaluation; past the budget the expression is unknown (Unresolved)."""
        self.steps -= weight
        if self.steps < 0:
            if not self._spent:
                self._spent = True
                self.gap(
                    self.file,
                    f"evaluation stopped after {MAX_STEPS:,} steps: values not worked out by then are unknown",
                    "simplify the expressions (locals or variables that refer to each other many times over)",
                )
            raise Unresolved("budget")

    def string(self, text: str) -> str:
        """`text`, when it is not longer than MAX_STRING; else Unresolved (and a gap)."""
        if len(text) > MAX_STRING:
            self.gap(self.file, f"an expression builds a string over {MAX_STRING:,} characters: it is unknown", "")
            raise Unresolved("string")
        return text

    def take(self, where: str, wanted: int) -> bool:
        """Whether `wanted` more instances fit; when not, a gap names `where` and nothing is taken."""
        if wanted <= self.instances:
            self.instances -= wanted
            return True
        self.gap(
            where,
            f"not expanded: its {wanted:,} instances would pass the budget of {MAX_INSTANCES:,} for a configuration",
            "scan the configuration in parts, or a plan of it",
        )
        return False

    def gap(self, where: str, why: str, hint: str) -> None:
        """Record what was not read (once; the first thousand gaps)."""
        if len(self.gaps) < 1000 and all(g[:2] != (where, why) for g in self.gaps):
            self.gaps.append((where, why, hint))

    def errors(self) -> list[CollectionError]:
        """The gaps as the coverage records them."""
        return [
            CollectionError(where, "read configuration", None, "NotRead", why, hint or None)
            for where, why, hint in self.gaps
        ]


class TokenStream:
    """The tokens of one expression, split by `pattern` (whose matches, stripped, are the tokens), read in order."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        self.tokens: list[str] = []
        self.at = 0
        position, end = 0, len(text.rstrip())
        while position < end:
            match = pattern.match(text, position)
            if match is None or match.end() == position:
                raise Unresolved(text)
            self.tokens.append(match.group().strip())
            position = match.end()

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Unresolved(expected or "end")
        self.at += 1
        return token

    def end(self) -> None:
        """Raise unless every token was read."""
        if self.peek() is not None:
            raise Unresolved("trailing")
