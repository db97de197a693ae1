"""Making text safe to record or send: credentials out of error texts, lone surrogates out.

* :func:`redact_secrets` is the one function every error text judgeguard records goes
  through (``Check.error``, span status and exception events, the audit's result lines).
  It removes what looks like a credential: provider API keys (``sk-…``, ``sk-ant-…``,
  ``AIza…``, ``AKIA…``, ``hf_…``, ``gh*_…``, ``xox*-…``), JSON web tokens, bearer/basic
  authorisation values, the password of ``scheme://user:pass@host`` URLs, secret query
  parameters (``?key=…``, ``api_key=…``, ``token=…``, ``sig=…``) and ``name: value`` /
  ``name=value`` pairs whose name says secret (``api_key``, ``authorization``,
  ``password`` …), plus any exact value passed as ``known``. No well-kept library does
  this for short strings (secret scanners such as detect-secrets scan files and report,
  they do not rewrite), so the patterns live here, tested in ``tests/test_scrub.py``.
* :func:`clean_text` replaces lone surrogates (``"\\ud800"``, which no UTF-8 encoder
  accepts) with U+FFFD, so prompts, spans and files always encode.
* :func:`key_bytes` encodes text for hashing without losing anything: lone surrogates
  are kept (``surrogatepass``), so ``"\\ud800"`` and ``"\\ufffd"`` hash differently.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "clean_text",
    "has_lone_surrogate",
    "key_bytes",
    "redact_secrets",
]

#: What a removed credential is replaced with.
REDACTED = "[REDACTED]"

_SURROGATE = re.compile("[\ud800-\udfff]")

_SECRET_NAME = (
    r"api[_-]?key|apikey|goog-api-key|authorization|password|passwd|secret|secret[_-]?key|"
    r"secret[_-]?access[_-]?key|access[_-]?key(?:[_-]?id)?|session[_-]?token|access[_-]?token|"
    r"refresh[_-]?token|id[_-]?token|auth[_-]?token|token|private[_-]?key|credentials?"
)
_VALUE = r"(?!\[REDACTED\])[^\s\"'&,;}\]<>]{4,}"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:[REDACTED]@host; a long token as userinfo
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s:@\"'<>]+):([^/\s@\"'<>]+)@"),
        r"\1\2:" + REDACTED + "@",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s:@\"'<>]{16,})@"), r"\1" + REDACTED + "@"),
    # Authorization: Bearer xyz / Basic base64
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=\-]{6,}"), r"\1\2" + REDACTED),
    (
        re.compile(r"\b(Basic)(\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"),
        r"\1\2" + REDACTED,
    ),
    # secret query parameters: ?key=… &sig=… &code=…
    (
        re.compile(
            r"(?i)([?&](?:[A-Za-z0-9]+[_-])*(?:"
            + _SECRET_NAME
            + r"|key|sig|signature|code)=)"
            + _VALUE
        ),
        r"\1" + REDACTED,
    ),
    # name=value and "name": "value" pairs whose name says secret (OPENAI_API_KEY=…, x-api-key: …)
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_-])*(?:" + _SECRET_NAME + r"))"
            r"(\"?'?\s*[:=]\s*\"?'?)" + _VALUE
        ),
        r"\1\2" + REDACTED,
    ),
    # well-known credential shapes, wherever they appear
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), REDACTED),
)


def redact_secrets(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every credential-looking part replaced by ``[REDACTED]``.

    ``known`` holds exact secret values (an ``api_key`` the caller configured, say) to
    remove whatever their shape; values shorter than 6 characters are ignored (they would
    remove ordinary words). Deterministic and linear in the text; never raises.
    """
    if not text:
        return text
    out = str(text)
    values = {k for k in known if isinstance(k, str) and len(k) >= 6}
    for value in sorted(values, key=len, reverse=True):
        out = out.replace(value, REDACTED)
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (text no UTF-8 encoder accepts)."""
    return _SURROGATE.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (unchanged, same object, otherwise)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def key_bytes(text: str) -> bytes:
    """UTF-8 bytes of ``text`` for hashing; lone surrogates are kept, not replaced."""
    return text.encode("utf-8", "surrogatepass")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts credentials from a record's message and traceback
    (judgeguard's logger has one: a crash's traceback may quote a provider's error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_secrets(formatted)
        if record.args:
            record.msg, record.args = redact_secrets(record.getMessage()), None
        elif isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        return True
