"""Options given as mappings (a YAML spec, a config entry), checked with messages that name every problem."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


def check_fields(cls, mapping: Mapping, what: str) -> None:
    """Raise ValueError naming every key of ``mapping`` that is not a field of the dataclass ``cls``, then
    every field without a default that ``mapping`` lacks; ``what`` names the options in the messages."""
    fields = dataclasses.fields(cls)
    known = {field.name for field in fields}
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        raise ValueError(f"unknown {what} option(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    missing = [field.name for field in fields if field.default is dataclasses.MISSING and field.name not in mapping]
    if missing:
        raise ValueError(f"{what} is missing required option(s): {', '.join(missing)}")


def check_values(checks: Mapping[str, bool], what: str) -> None:
    """Raise ValueError listing the message of every check that failed (``{message: passed}``)."""
    failed = [message for message, passed in checks.items() if not passed]
    if failed:
        raise ValueError(f"invalid {what}: " + "; ".join(failed))
