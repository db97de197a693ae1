"""The parse stage: judge output in, Judgment (rationale + verdict, verdict redacted) out."""

from judgeguard.parsing.core import find_markup, parse
from judgeguard.parsing.registry import (
    FormatMatch,
    register_format,
    registered_formats,
    unregister_format,
)

__all__ = [
    "FormatMatch",
    "find_markup",
    "parse",
    "register_format",
    "registered_formats",
    "unregister_format",
]
