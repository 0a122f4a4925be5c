"""The JSON Schemas in ``schemas/``, loaded once and compiled into validators."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported where a validator is built: a stage process has none
    from jsonschema import Draft202012Validator
    from referencing import Registry

SCHEMA_NAMES = (
    "raw-article",
    "clean-article",
    "entities-article",
    "enriched-article",
    "dead-letter",
)


def schema_dir() -> Path:
    """Schemas ship inside the wheel; in a source checkout they sit at the repository root."""
    bundled = Path(__file__).parent / "_bundled" / "schemas"
    return bundled if bundled.is_dir() else Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _registry() -> Registry:
    from referencing import Registry, Resource

    resources = []
    for name in SCHEMA_NAMES:
        contents = json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents)
        resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


@functools.cache
def validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    return Draft202012Validator(
        schema,
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def errors(name: str, instance: Any) -> list[str]:
    """Readable violations of schema ``name`` by ``instance``; empty when it is valid."""
    found = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [_describe(e) for e in found]


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"{where}: {message}"
