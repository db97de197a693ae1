"""The judgeguard names this package uses."""

from __future__ import annotations

from judgeguard.cache import DiskCache
from judgeguard.guarding import AUTO_CONTEXT, Checker, GuardConfigError, GuardResult

__all__ = ["AUTO_CONTEXT", "Checker", "DiskCache", "GuardConfigError", "GuardResult"]
