"""The parse stage: judge output in, Judgment (rationale + verdict, verdict redacted) out."""

from judgeguard.parsing.core import find_markup, judgment_from_parts, parse
from judgeguard.parsing.inputs import SCAN_LIMIT
from judgeguard.parsing.registry import (
    FormatMatch,
    register_format,
    registered_formats,
    unregister_format,
)

__all__ = [
    "SCAN_LIMIT",
    "FormatMatch",
    "find_markup",
    "judgment_from_parts",
    "parse",
    "register_format",
    "registered_formats",
    "unregister_format",
]
