"""Read a Terraform configuration directory (HCL) without `terraform init`, credentials or a plan.

The files are parsed with python-hcl2; values are worked out as far as the configuration alone allows:
literals, variables (defaults, `terraform.tfvars`, `*.auto.tfvars`, `--var-file`), locals, local modules
(`source = "./..."`, their inputs and outputs), `count` and `for_each` over known values, references between
resources, conditionals, and a few functions (`try`, `coalesce`, `lookup`, `tostring`, `tobool`, `tonumber`,
`format`). Anything else, like every attribute a resource gets only once created, is a `Symbol` naming where
it comes from, so that the mapping can still link two attributes taken from the same one, and the checks say
UNKNOWN or NOT_APPLICABLE instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmkaudit.errors import InputError
from cmkaudit.files import HCL_FILE_LIMIT, read_input
from cmkaudit.iac.model import (
    MAX_MODULE_DEPTH,
    Budget,
    IacResource,
    SourceSpan,
    Symbol,
    TokenStream,
    Unresolved,
    Value,
    instance_address,
    path_text,
    step,
    walk,
)
from cmkaudit.inventory.model import CollectionError
from cmkaudit.text import printable

MAX_DEPTH = 64
"""How deep references may chain (a cycle, or a configuration of absurd depth, stops there as unknown)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """An expression that is a reference to a resource attribute (kept so that links can be followed)."""

    resource: IacResource
    path: tuple[str | int, ...]


# --- files -------------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """A top-level block: its kind, labels, body (as python-hcl2 gives it) and where it is."""

    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]
    span: SourceSpan


@dataclass
class ModuleConfig:
    """The blocks of one module directory."""

    directory: Path
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: list[Block] = field(default_factory=list)
    modules: list[Block] = field(default_factory=list)
    outputs: dict[str, Block] = field(default_factory=dict)
    providers: list[Block] = field(default_factory=list)


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _strip_meta(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _strip_meta(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


def _block_spans(text: str, relative: str) -> list[tuple[str, SourceSpan]]:
    """The kind and line span of each top-level block of a file, in file order."""
    import hcl2

    tree = hcl2.parses_to_tree(text)
    body = tree.children[0] if tree.children else None
    found = []
    for child in getattr(body, "children", ()):
        if getattr(child, "data", None) == "block":
            first = child.children[0]
            token = first.children[0] if getattr(first, "children", None) else first
            found.append((str(token), SourceSpan(relative, child.meta.line, child.meta.end_line)))
    return found


def _syntax_error(path: Path, exc: Exception) -> InputError:
    """The parser's error as one line naming the file, line and column and what was expected there: never the
    text it met, which is the file's content (a link to a secret would otherwise be printed)."""
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    where = f" at line {line}, column {column}" if isinstance(line, int) and isinstance(column, int) else ""
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None)
    names = sorted(str(e) for e in expected) if isinstance(expected, (set, frozenset, list, tuple)) else []
    wanted = (
        f": expected {', '.join(names[:8])}{' or another token' if len(names) > 8 else ''}"
        if names
        else f" ({type(exc).__name__})"
    )
    return InputError(f"{printable(str(path))} is not valid HCL{where}{wanted}")


def _parse_file(path: Path, root: Path, tree: Path) -> list[Block]:
    import hcl2

    data = read_input(path, "Terraform file", limit=HCL_FILE_LIMIT, within=tree, error=InputError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{printable(str(path))} is not UTF-8 text: {exc.reason} at byte {exc.start + 1}") from exc
    try:
        document = hcl2.loads(text)
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        spans = _block_spans(text, relative)
    except RecursionError as exc:
        raise InputError(f"{printable(str(path))} is not HCL cmkaudit reads: it is nested too deeply") from exc
    except Exception as exc:  # the parser's own errors (lark's), whatever their class
        raise _syntax_error(path, exc) from exc
    blocks: list[Block] = []
    # python-hcl2 groups blocks by kind; the tree keeps file order. Both list a kind's blocks in file order, so
    # each kind's spans are matched to its blocks in order.
    by_kind: dict[str, list[tuple[tuple[str, ...], dict[str, Any]]]] = {}
    for kind, entries in document.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            labels: list[str] = []
            node: Any = entry
            while isinstance(node, dict) and "__is_block__" not in node and len(node) == 1:
                label, node = next(iter(node.items()))
                labels.append(_unquote(label))
            if isinstance(node, dict):
                by_kind.setdefault(kind, []).append((tuple(labels), _strip_meta(node)))
    positions = {kind: 0 for kind in by_kind}
    for kind, span in spans:
        if kind in by_kind and positions[kind] < len(by_kind[kind]):
            labels_, body = by_kind[kind][positions[kind]]
            positions[kind] += 1
            blocks.append(Block(kind, labels_, body, span))
    return blocks


def read_module(directory: Path, root: Path, tree: Path) -> ModuleConfig:
    """Every `*.tf` file of a directory (not its subdirectories), parsed; only regular files inside `tree` are
    read (see `read_input`)."""
    config = ModuleConfig(directory)
    for path in sorted(directory.glob("*.tf")):
        if path.is_dir():  # Terraform reads files only
            continue
        for block in _parse_file(path, root, tree):
            match block.kind:
                case "variable" if block.labels:
                    config.variables[block.labels[0]] = block
                case "locals":
                    config.locals.update(block.body)
                case "resource" | "data" if len(block.labels) == 2:
                    config.resources.append(block)
                case "module" if block.labels:
                    config.modules.append(block)
                case "output" if block.labels:
                    config.outputs[block.labels[0]] = block
                case "provider":
                    config.providers.append(block)
                case _:
                    pass
    return config


def read_tfvars(path: Path, within: Path | None = None) -> dict[str, Any]:
    """A `.tfvars` file (HCL) or `.tfvars.json` file, as raw values to evaluate (see `read_input` for `within`)."""
    import json

    import hcl2

    data = read_input(path, "variables file", limit=HCL_FILE_LIMIT, within=within, error=InputError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{printable(str(path))} is not UTF-8 text: {exc.reason} at byte {exc.start + 1}") from exc
    if path.name.endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{printable(str(path))} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from exc
        except (RecursionError, ValueError) as exc:
            raise InputError(f"{printable(str(path))} is not a variables file cmkaudit reads") from exc
        return {k: _literal_json(v) for k, v in document.items()} if isinstance(document, dict) else {}
    try:
        return dict(_strip_meta(hcl2.loads(text)))
    except RecursionError as exc:
        raise InputError(f"{printable(str(path))} is not HCL cmkaudit reads: it is nested too deeply") from exc
    except Exception as exc:
        raise _syntax_error(path, exc) from exc


def _literal_json(value: Any) -> Any:
    """A JSON value as python-hcl2 would give the same literal (strings quoted)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return [_literal_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal_json(v) for k, v in value.items()}
    return value


# --- expressions -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|&&|\|\||>=|<=|[?:!()\[\]{},.=<>+\-*/%])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


@dataclass
class Context:
    """Where an expression is evaluated: a module instance, and `each` / `count` of a resource instance."""

    module: ModuleInstance
    each: tuple[Any, Any] | None = None
    count: int | None = None


class _Parser(TokenStream):
    """A recursive-descent evaluator for the expressions a CMK configuration uses."""

    def __init__(self, reader: HclReader, text: str, context: Context, depth: int) -> None:
        super().__init__(text, _TOKEN)
        self.reader, self.context, self.depth = reader, context, depth

    def expression(self) -> Any:
        condition = self.or_()
        if self.peek() == "?":
            self.take("?")
            yes = self.expression()
            self.take(":")
            no = self.expression()
            decided = _concrete(self.reader, condition)
            if isinstance(decided, bool):
                return yes if decided else no
            raise Unresolved("condition")
        return condition

    def or_(self) -> Any:
        return self._logical("||", self.and_, any)

    def and_(self) -> Any:
        return self._logical("&&", self.compare, all)

    def _logical(self, operator: str, operand: Callable[[], Any], how: Callable[[Iterable[bool]], bool]) -> Any:
        value = operand()
        while self.peek() == operator:
            self.take()
            value = _bool_op(self.reader, value, operand(), how)
        return value

    def compare(self) -> Any:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()
            other = self.unary()
            left, right = _concrete(self.reader, value), _concrete(self.reader, other)
            if isinstance(left, (Symbol, Ref)) or isinstance(right, (Symbol, Ref)):
                raise Unresolved("comparison")
            return (left == right) if op == "==" else (left != right)
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            value = _concrete(self.reader, self.unary())
            if isinstance(value, bool):
                return not value
            raise Unresolved("!")
        if self.peek() == "-":
            self.take()
            value = _concrete(self.reader, self.unary())
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
            raise Unresolved("-")
        return self.postfix()

    def postfix(self) -> Any:
        token = self.peek()
        if token is None:
            raise Unresolved("end")
        if token[0].isalpha() or token[0] == "_":
            name = self.take()
            if name in ("true", "false"):
                return name == "true"
            if name == "null":
                return None
            if self.peek() == "(":
                return self.call(name)
            parts: list[str | int] = [name]
            while self.peek() in (".", "["):
                if self.take() == ".":
                    nxt = self.take()
                    parts.append(int(nxt) if nxt.isdigit() else nxt)
                else:
                    if self.peek() == "*":
                        raise Unresolved("splat")
                    key = _concrete(self.reader, self.expression())
                    self.take("]")
                    if not isinstance(key, (str, int)) or isinstance(key, bool):
                        raise Unresolved("index")
                    parts.append(key)
            return self.reader.reference(self.context, tuple(parts), self.depth + 1)
        value = self.primary()
        while self.peek() in (".", "["):
            if self.take() == ".":
                nxt = self.take()
                value = _index(self.reader, value, int(nxt) if nxt.isdigit() else nxt)
            else:
                key = _concrete(self.reader, self.expression())
                self.take("]")
                value = _index(self.reader, value, key)
        return value

    def primary(self) -> Any:
        token = self.take()
        if token[0].isdigit():
            return float(token) if "." in token else int(token)
        if token[0] == '"':
            return self.reader.template(token[1:-1], self.context, self.depth + 1)
        if token == "(":
            value = self.expression()
            self.take(")")
            return value
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.expression())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return items
        raise Unresolved(token)

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            start = self.at
            try:
                args.append(self.expression())
            except Unresolved:
                if name != "try":
                    raise
                self.at = start
                self._skip_argument()
            if self.peek() == ",":
                self.take()
        self.take(")")
        return _function(self.reader, name, args)

    def _skip_argument(self) -> None:
        depth = 0
        while (token := self.peek()) is not None:
            if token in ("(", "[", "{"):
                depth += 1
            elif token in (")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1
            elif token == "," and depth == 0:
                return
            self.take()


def _concrete(reader: HclReader, value: Any) -> Any:
    """A reference replaced by the value it names."""
    if isinstance(value, Ref):
        return reader.value_of(value, 0)
    return value


def _bool_op(reader: HclReader, left: Any, right: Any, how: Callable[[Iterable[bool]], bool]) -> bool:
    a, b = _concrete(reader, left), _concrete(reader, right)
    if isinstance(a, bool) and isinstance(b, bool):
        return bool(how((a, b)))
    raise Unresolved("boolean")


def _index(reader: HclReader, value: Any, key: Any) -> Any:
    value = _concrete(reader, value)
    if isinstance(value, dict) and isinstance(key, str) and key in value:
        return value[key]
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    raise Unresolved("index")


def _function(reader: HclReader, name: str, args: list[Any]) -> Any:
    values = [_concrete(reader, a) for a in args]
    match name:
        case "try":
            if not values:
                raise Unresolved("try")
            return args[0]
        case "coalesce":
            for value in values:
                if isinstance(value, (Symbol, Ref)):
                    raise Unresolved("coalesce")
                if value not in (None, ""):
                    return value
            return None
        case "lookup" if len(values) in (2, 3) and isinstance(values[0], dict) and isinstance(values[1], str):
            if values[1] in values[0]:
                return values[0][values[1]]
            if len(values) == 3:
                return values[2]
        case "tostring" | "tobool" | "tonumber" if len(args) == 1:
            return args[0]
        case "format" if values and isinstance(values[0], str):
            if all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values[1:]):
                try:
                    return values[0].replace("%s", "{}").replace("%d", "{}").format(*values[1:])
                except (IndexError, ValueError) as exc:
                    raise Unresolved("format") from exc
        case _:
            pass
    raise Unresolved(name)


# --- module instances and resources ------------------------------------------------------------------------------


@dataclass
class ModuleInstance:
    """One instance of a module: its address, configuration, and the call (in its parent) that made it."""

    address: str
    config: ModuleConfig
    parent: ModuleInstance | None = None
    call: Block | None = None
    each: tuple[Any, Any] | None = None
    count: int | None = None


@dataclass
class HclReader:
    """A configuration directory read into resources, with the values it fixes and symbols for the rest."""

    root: Path
    variables: Mapping[str, Any]
    display: Path | None = None
    """What file names are written relative to (`display_root`); the root module's directory when None."""
    tree: Path | None = None
    """The only tree files and modules are read from (`scanned_tree`); the root module's directory when None."""
    notes: list[str] = field(default_factory=list)
    resources: list[IacResource] = field(default_factory=list)
    budget: Budget = field(default_factory=lambda: Budget("."))
    _bodies: dict[str, tuple[dict[str, Any], Context]] = field(default_factory=dict)
    _by_name: dict[tuple[str, str, str, str], list[IacResource]] = field(default_factory=dict)
    _instances: dict[str, ModuleInstance] = field(default_factory=dict)
    _resolving: set[tuple[str, str]] = field(default_factory=set)
    _memo: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Values of locals, module variables and resource attributes, each worked out once: a configuration whose
    locals refer to each other many times over costs what its size does, not an exponential of it."""

    def provider_setting(self, provider: str, name: str) -> Value:
        root = self._instances.get("")
        for block in root.config.providers if root else ():
            if block.labels and block.labels[0] == provider and name in block.body:
                value = self.evaluate(block.body[name], Context(root), 0) if root else None
                return value if isinstance(value, str) else None
        return None

    # -- loading ----------------------------------------------------------------------------------------------

    def load(self) -> HclReader:
        tree = self.tree or self.root
        self.budget = Budget(self._shown(self.root))
        root = ModuleInstance("", read_module(self.root, self.display or self.root, tree))
        if not (root.config.resources or root.config.modules):
            raise InputError(
                f"{printable(str(self.root))}: no Terraform resources or modules in its *.tf files",
                "give the directory of the root module (where terraform plan would run)",
            )
        self.budget.instances -= 1
        self._add_instance(root, depth=0)
        return self

    def _shown(self, path: Path) -> str:
        shown = self.display or self.root
        return path.relative_to(shown).as_posix() or "." if path.is_relative_to(shown) else path.as_posix()

    @property
    def gaps(self) -> list[CollectionError]:
        """What the configuration holds that was not read (modules, expansions past the budget)."""
        return self.budget.errors()

    def _add_instance(self, instance: ModuleInstance, depth: int) -> None:
        self._instances[instance.address] = instance
        context = Context(instance, instance.each, instance.count)
        for block in instance.config.resources:
            mode = "data" if block.kind == "data" else "managed"
            type_, name = block.labels
            where = instance_address(instance.address, mode, type_, name, None)
            for index, each, count in self._expansions(block.body, context, where):
                resource = IacResource(
                    address=instance_address(instance.address, mode, type_, name, index),
                    module=instance.address,
                    mode=mode,
                    type=type_,
                    name=name,
                    index=index,
                    values={},
                    span=block.span,
                )
                self.resources.append(resource)
                self._by_name.setdefault((instance.address, mode, type_, name), []).append(resource)
                self._bodies[resource.address] = (block.body, Context(instance, each, count))
        for call in instance.config.modules:
            self._call(instance, call, context, depth)

    def _call(self, instance: ModuleInstance, call: Block, context: Context, depth: int) -> None:
        """Read the module a `module` block calls and add its instances (a gap when it cannot be read)."""
        where = f"{instance.address + '.' if instance.address else ''}module.{call.labels[0]}"
        source = self.evaluate(call.body.get("source"), context, 0)
        if not isinstance(source, str) or not (source.startswith("./") or source.startswith("../")):
            self.budget.gap(
                where,
                f"module not read: its source {printable(str(source))!r} is not a local directory",
                "scan a plan of the configuration (terraform show -json), which includes every module",
            )
            return
        directory = (instance.config.directory / source).resolve()
        tree = (self.tree or self.root).resolve()
        ancestors = {instance.config.directory.resolve()}
        parent = instance.parent
        while parent is not None:
            ancestors.add(parent.config.directory.resolve())
            parent = parent.parent
        why = (
            "its source leaves the scanned tree"
            if not directory.is_relative_to(tree)
            else "its source is not a directory"
            if not directory.is_dir()
            else "it calls itself"
            if directory in ancestors
            else f"modules nest deeper than {MAX_MODULE_DEPTH}"
            if depth >= MAX_MODULE_DEPTH
            else None
        )
        if why is not None:
            hint = "modules are read from the scanned directory's git repository (or the directory outside one)"
            self.budget.gap(where, f"module not read ({printable(source)!r}): {why}", hint)
            return
        config = read_module(directory, self.display or self.root, tree)
        for index, each, count in self._expansions(call.body, context, where):
            key = "" if index is None else f"[{index}]" if isinstance(index, int) else f'["{index}"]'
            self._add_instance(ModuleInstance(where + key, config, instance, call, each, count), depth + 1)

    def _expansions(
        self, body: Mapping[str, Any], context: Context, where: str
    ) -> Iterator[tuple[str | int | None, tuple[Any, Any] | None, int | None]]:
        """The instances `count` or `for_each` make (one, unkeyed, when neither is known, or when they would pass
        the budget: the block is then judged as one instance, and the gap said)."""
        instances: list[tuple[str | int | None, tuple[Any, Any] | None, int | None]] | None = None
        if "count" in body:
            count = _concrete(self, self.evaluate(body["count"], context, 0))
            if isinstance(count, int) and not isinstance(count, bool):
                if not self.budget.take(where, max(count, 0)):
                    yield None, None, None
                    return
                yield from ((i, None, i) for i in range(count))
                return
        elif "for_each" in body:
            each = _concrete(self, self.evaluate(body["for_each"], context, 0))
            if isinstance(each, dict):
                instances = [(str(key), (str(key), value), None) for key, value in each.items()]
            elif isinstance(each, list) and all(isinstance(v, str) for v in each):
                instances = [(key, (key, key), None) for key in dict.fromkeys(each)]
        if instances is None:
            self.budget.take(where, 1)
            yield None, None, None
        elif self.budget.take(where, len(instances)):
            yield from instances
        else:
            yield None, None, None

    # -- evaluation -------------------------------------------------------------------------------------------

    def evaluate(self, raw: Any, context: Context, depth: int) -> Any:
        """A value as python-hcl2 gives it, evaluated: a literal, a `Ref`, or a `Symbol` when not known."""
        if depth > MAX_DEPTH:
            return Symbol("(too deep)")
        try:
            self.budget.step()
        except Unresolved:
            return Symbol("(not evaluated: budget)")
        if isinstance(raw, str):
            if raw.startswith("${") and raw.endswith("}") and _balanced(raw[2:-1]):
                return self.expression(raw[2:-1], context, depth)
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                return self.template(raw[1:-1], context, depth)
            return raw
        if isinstance(raw, list):
            return [self.evaluate(v, context, depth + 1) for v in raw]
        if isinstance(raw, dict):
            return {k: self.evaluate(v, context, depth + 1) for k, v in raw.items()}
        return raw

    def expression(self, text: str, context: Context, depth: int) -> Any:
        try:
            parser = _Parser(self, text, context, depth)
            value = parser.expression()
            parser.end()
            return value
        except (Unresolved, RecursionError):
            where = context.module.address
            return Symbol(f"{where + ': ' if where else ''}{text.strip()}")

    def template(self, text: str, context: Context, depth: int) -> Any:
        """A quoted string, its `${...}` interpolations filled in (a Symbol when one is unknown)."""
        if text.startswith("<<"):
            return text.split("\n", 1)[1].rsplit("\n", 1)[0] if "\n" in text else ""
        parts: list[str] = []
        at = 0
        while (start := text.find("${", at)) >= 0:
            if start > 0 and text[start - 1] == "$":
                parts.append(text[at : start + 1])
                at = start + 2
                continue
            end = _closing(text, start + 2)
            if end < 0:
                break
            parts.append(_unescape(text[at:start]))
            value = _concrete(self, self.expression(text[start + 2 : end], context, depth + 1))
            if isinstance(value, Symbol) or not isinstance(value, (str, int, float)) or isinstance(value, bool):
                return Symbol(f'{context.module.address + ": " if context.module.address else ""}"{text}"')
            parts.append(str(value))
            at = end + 1
        parts.append(_unescape(text[at:]))
        try:
            return self.budget.string("".join(parts))
        except Unresolved:
            return Symbol(f'{context.module.address + ": " if context.module.address else ""}"(too long)"')

    def reference(self, context: Context, parts: tuple[str | int, ...], depth: int) -> Any:
        """What a reference names, from where it is written."""
        head = parts[0]
        module = context.module
        qualified = f"{module.address + '.' if module.address else ''}{path_text(parts)}"
        if depth > MAX_DEPTH:
            return Symbol(qualified)
        match head:
            case "var" if len(parts) > 1:
                return self._walk(self._variable(module, str(parts[1]), depth), parts[2:], qualified)
            case "local" if len(parts) > 1:
                key = (module.address, f"local.{parts[1]}")
                if str(parts[1]) not in module.config.locals or key in self._resolving:
                    return Symbol(qualified)
                if key not in self._memo:
                    self._resolving.add(key)
                    try:
                        local = module.config.locals[str(parts[1])]
                        self._memo[key] = self.evaluate(local, Context(module), depth + 1)
                    finally:
                        self._resolving.discard(key)
                return self._walk(self._memo[key], parts[2:], qualified)
            case "each" if context.each is not None and len(parts) > 1:
                value = context.each[0] if parts[1] == "key" else context.each[1] if parts[1] == "value" else None
                return self._walk(value, parts[2:], qualified)
            case "count" if context.count is not None and len(parts) > 1 and parts[1] == "index":
                return context.count
            case "module" if len(parts) > 2:
                return self._output(module, parts, depth, qualified)
            case "path" | "terraform" | "self" | "each" | "count":
                return Symbol(qualified)
            case _:
                located = self._locate(module, parts, context)
                if located is None:
                    return Symbol(qualified)
                return Ref(*located)

    def _walk(self, value: Any, rest: Sequence[str | int], qualified: str) -> Any:
        for part in rest:
            value = _concrete(self, value)
            found, inner = step(value, part)
            if found:
                value = inner
            elif isinstance(value, Ref):
                value = Ref(value.resource, (*value.path, part))
            else:
                return Symbol(qualified)
        return value

    def _variable(self, module: ModuleInstance, name: str, depth: int) -> Any:
        key = (module.address, f"var.{name}")
        if key in self._resolving:
            return Symbol(f"{module.address + '.' if module.address else ''}var.{name}")
        if key not in self._memo:
            self._resolving.add(key)
            try:
                self._memo[key] = self._variable_value(module, name, depth)
            finally:
                self._resolving.discard(key)
        return self._memo[key]

    def _variable_value(self, module: ModuleInstance, name: str, depth: int) -> Any:
        if module.parent is None or module.call is None:
            if name in self.variables:
                return self.evaluate(self.variables[name], Context(module), depth + 1)
        elif name in module.call.body:
            # The call's arguments are written in the parent module, where `each` / `count` are the call's own.
            caller = Context(module.parent, module.each, module.count)
            return self.evaluate(module.call.body[name], caller, depth + 1)
        declared = module.config.variables.get(name)
        if declared is not None and "default" in declared.body:
            return self.evaluate(declared.body["default"], Context(module), depth + 1)
        return Symbol(f"{module.address + '.' if module.address else ''}var.{name}")

    def _output(self, module: ModuleInstance, parts: Sequence[str | int], depth: int, qualified: str) -> Any:
        call, rest = str(parts[1]), list(parts[2:])
        prefix = f"{module.address + '.' if module.address else ''}module.{call}"
        instances = [i for a, i in self._instances.items() if a == prefix or a.startswith(prefix + "[")]
        chosen: ModuleInstance | None = None
        if (rest and isinstance(rest[0], int)) or (rest and rest[0] not in _outputs_of(instances)):
            key, rest = rest[0], rest[1:]
            chosen = next((i for i in instances if (i.each and i.each[0] == key) or i.count == key), None)
        elif len(instances) == 1:
            chosen = instances[0]
        if chosen is None or not rest or str(rest[0]) not in chosen.config.outputs:
            return Symbol(qualified)
        body = chosen.config.outputs[str(rest[0])].body
        value = self.evaluate(body.get("value"), Context(chosen, chosen.each, chosen.count), depth + 1)
        return self._walk(value, rest[1:], qualified)

    def _locate(
        self, module: ModuleInstance, parts: Sequence[str | int], context: Context
    ) -> tuple[IacResource, tuple[str | int, ...]] | None:
        mode, rest = ("data", list(parts[1:])) if parts[0] == "data" else ("managed", list(parts))
        if len(rest) < 2:
            return None
        type_, name, rest = str(rest[0]), str(rest[1]), rest[2:]
        instances = self._by_name.get((module.address, mode, type_, name), [])
        if rest and any(i.index == rest[0] for i in instances):
            wanted, rest = rest[0], rest[1:]
            chosen = next((i for i in instances if i.index == wanted), None)
        elif len(instances) == 1:
            chosen = instances[0]
        else:
            return None
        return (chosen, tuple(rest)) if chosen is not None else None

    def value_of(self, ref: Ref, depth: int) -> Any:
        """The value of a resource attribute: what its configuration sets, else a Symbol (known after apply)."""
        key = (ref.resource.address, path_text(ref.path))
        if key in self._resolving or depth > MAX_DEPTH:
            return Symbol(f"{ref.resource.address}.{path_text(ref.path)}")
        if key in self._memo:
            value = self._memo[key]
        else:
            self._resolving.add(key)
            try:
                value = self._memo[key] = self._raw(ref.resource, ref.path, depth)
            finally:
                self._resolving.discard(key)
        if value is None:
            return Symbol(f"{ref.resource.address}.{path_text(ref.path)}") if ref.path else None
        return value

    def _raw(self, resource: IacResource, path: Sequence[str | int], depth: int) -> Any:
        body, context = self._bodies.get(resource.address, ({}, None))
        if context is None:
            return None
        found, node = walk(body, path)
        if not found:
            return None
        value = self.evaluate(node, context, depth + 1)
        while isinstance(value, Ref) and depth < MAX_DEPTH:
            depth += 1
            value = self.value_of(value, depth)
        return value

    # -- the Resolver interface -------------------------------------------------------------------------------

    def get(self, resource: IacResource, *path: str | int) -> Value:
        """The attribute's value as the configuration sets it (None when not set; a Symbol when not known)."""
        value = self._raw(resource, path, 0)
        if isinstance(value, Symbol) or not _has_ref(value):
            return value
        return _resolved(self, value)

    def target(self, resource: IacResource, *path: str | int) -> tuple[IacResource, tuple[str | int, ...]] | None:
        """The resource attribute an attribute is a reference to."""
        body, context = self._bodies.get(resource.address, ({}, None))
        if context is None:
            return None
        found, node = walk(body, path)
        if not found:
            return None
        value = self.evaluate(node, context, 0)
        for _ in range(MAX_DEPTH):
            if not isinstance(value, Ref):
                return None
            inner_body, inner_context = self._bodies.get(value.resource.address, ({}, None))
            found, raw = walk(inner_body, value.path)
            # A reference to an attribute the target sets from yet another reference: follow it (an output).
            if found and inner_context is not None and value.path and value.path[-1] not in ("id", "versionless_id"):
                followed = self.evaluate(raw, inner_context, 0)
                if isinstance(followed, Ref):
                    value = followed
                    continue
            return value.resource, value.path
        return None


def _has_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    if isinstance(value, dict):
        return any(_has_ref(v) for v in value.values())
    return False


def _resolved(reader: HclReader, value: Any) -> Any:
    if isinstance(value, Ref):
        return reader.value_of(value, 0)
    if isinstance(value, list):
        return [_resolved(reader, v) for v in value]
    if isinstance(value, dict):
        return {k: _resolved(reader, v) for k, v in value.items()}
    return value


def _outputs_of(instances: Sequence[ModuleInstance]) -> set[str]:
    return {name for i in instances for name in i.config.outputs}


def _balanced(text: str) -> bool:
    """Whether `${...}` is one interpolation (not `${a}-${b}` cut at its ends)."""
    return _closing("${" + text + "}", 2) == len(text) + 2


def _closing(text: str, start: int) -> int:
    """The index of the `}` closing the interpolation opened just before `start`, or -1."""
    depth, at, quoted = 0, start, False
    while at < len(text):
        char = text[at]
        if quoted:
            if char == "\\":
                at += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return at
            depth -= 1
        at += 1
    return -1


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n")


def read_directory(directory: Path, var_files: Sequence[Path] = ()) -> HclReader:
    """Read a root module directory, its variables from `terraform.tfvars`, `*.auto.tfvars` and `var_files`.

    Only regular files are read, and only inside the scanned tree (`scanned_tree`): a `.tf` or `.tfvars` file that
    is a link leading out of it, or a FIFO or device, is refused by name (exit 2), and so is a `--var-file` that is
    not a regular file."""
    if not directory.is_dir():
        raise InputError(f"{printable(str(directory))} is not a directory", "give the root module's directory")
    tree = scanned_tree(directory)
    variables: dict[str, Any] = {}
    automatic = [directory / "terraform.tfvars", directory / "terraform.tfvars.json"]
    automatic += sorted(directory.glob("*.auto.tfvars")) + sorted(directory.glob("*.auto.tfvars.json"))
    for path in automatic:
        if path.is_symlink() or path.exists():
            variables.update(read_tfvars(path, within=tree))
    for path in var_files:
        variables.update(read_tfvars(path))
    return HclReader(directory.resolve(), variables, display_root(directory), tree).load()


def scanned_tree(directory: Path) -> Path:
    """The tree a configuration's files and local modules may come from: its repository's top level (the nearest
    folder above it that holds `.git`), or the directory itself outside a repository."""
    resolved = directory.resolve()
    for folder in (resolved, *resolved.parents):
        if (folder / ".git").exists():
            return folder
    return resolved


def display_root(directory: Path) -> Path:
    """What file names in findings are relative to: the working directory when the configuration is under it (so
    that SARIF paths are the repository's, for code scanning), else the directory itself."""
    resolved, here = directory.resolve(), Path.cwd().resolve()
    return here if resolved.is_relative_to(here) else resolved
