"""`Record`: the base of the records a scan makes by the million (findings, their verdicts and evidence).

A large tenant's evaluation makes several records per finding, millions in all, and the JSON report
writes each of them. A record is a frozen `msgspec.Struct`: read-only at run time and for type checkers,
hashable from its fields, built by a constructor in C (faster than a slotted dataclass's generated `__init__`,
and a frozen dataclass's is slower still: it sets every field through `object.__setattr__`), and written by
msgspec's JSON encoder faster than a dataclass (benchmarks/README.md has the measurements). Records
hold no reference cycles (strings, enums, dates and tuples of records), so they are left out of Python's
cyclic garbage collector (`gc=False`). msgspec decodes them straight from JSON, refusing members they do not
have (as pydantic's `extra="forbid"` does); `load_results` reads a results file's findings that way.

pydantic does not know msgspec's structs, and it reads results files back and gives their JSON schema.
`Record.__get_pydantic_core_schema__` lets it treat each record class as the frozen dataclass of the same
name, fields, defaults, docstring and `__pydantic_config__` would be treated: the same validation and the
same schema. A validated value is turned into the record; a record given in Python is taken as it is.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import msgspec
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class Record(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """A read-only record; subclasses declare their fields like a dataclass's (and repeat `frozen=True`, which
    msgspec inherits but type checkers look for on the class itself)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        twin = _dataclass_twin(cls)
        names = cls.__struct_fields__

        def validate(value: Any, validate_twin: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if isinstance(value, cls):
                return value
            checked = validate_twin(value)
            return cls(*[getattr(checked, name) for name in names])

        def to_twin(value: Record) -> Any:
            return twin(*[getattr(value, name) for name in names])

        schema = handler(twin)
        # A wrapping validator, not a union of two schemas: pydantic then describes the field as the twin's
        # (a reference to its definition, without a title of its own), as it would a dataclass field.
        return core_schema.no_info_wrap_validator_function(
            validate,
            schema,
            serialization=core_schema.plain_serializer_function_ser_schema(to_twin, return_schema=schema),
        )


def _dataclass_twin(cls: type[Record]) -> type:
    """The frozen dataclass with `cls`'s name, fields (annotations included), defaults, docstring and pydantic
    configuration: what pydantic validates and describes in its place."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = cls.__struct_fields__
    defaults = dict(zip(names[len(names) - len(cls.__struct_defaults__) :], cls.__struct_defaults__, strict=True))
    fields = [
        (name, hints[name], dataclasses.field(default=defaults[name])) if name in defaults else (name, hints[name])
        for name in names
    ]
    namespace = {"__doc__": cls.__doc__, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    if "__pydantic_config__" in cls.__dict__:
        namespace["__pydantic_config__"] = cls.__dict__["__pydantic_config__"]
    return dataclasses.make_dataclass(cls.__name__, fields, namespace=namespace, frozen=True)
