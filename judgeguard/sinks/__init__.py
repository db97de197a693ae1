"""Sinks: finished checks as first-class feedback in observability tools.

``judgeguard.sinks.Phoenix`` (span annotations) and ``judgeguard.sinks.MLflow`` (feedback
assessments) are ``on_result`` callables that post in the background; subclass :class:`Sink` for
another tool. The CLI builds them from ``--sink NAME=URL``
(:func:`from_spec`). Each sink's module, and its client libraries, load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from judgeguard.errors import GuardConfigError
from judgeguard.sinks.base import Sink, SinkError, SinkItem, TransientSinkError

__all__ = [
    "SINKS",
    "MLflow",
    "Phoenix",
    "Sink",
    "SinkError",
    "SinkItem",
    "TransientSinkError",
    "from_spec",
]

#: The sinks ``--sink NAME=URL`` knows: name -> (module, class). Each class takes the URL
#: (endpoint, tracking URI) as its first argument.
SINKS: dict[str, tuple[str, str]] = {
    "phoenix": ("judgeguard.sinks.phoenix", "Phoenix"),
    "mlflow": ("judgeguard.sinks.mlflow", "MLflow"),
}


def from_spec(spec: str, **options: Any) -> Sink:
    """A sink from ``NAME=URL`` (``phoenix=http://127.0.0.1:6006``,
    ``mlflow=http://127.0.0.1:5000``); ``options`` go to its constructor."""
    name, sep, url = spec.partition("=")
    name = name.strip().lower()
    if not sep or not url.strip() or name not in SINKS:
        known = ", ".join(f"{n}=URL" for n in SINKS)
        raise GuardConfigError(f"--sink {spec!r}: expected one of {known}")
    module, attribute = SINKS[name]
    sink: Sink = getattr(importlib.import_module(module), attribute)(url.strip(), **options)
    return sink


def __getattr__(name: str) -> Any:
    for module, attribute in SINKS.values():
        if attribute == name:
            return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
