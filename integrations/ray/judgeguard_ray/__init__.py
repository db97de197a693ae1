"""judgeguard on Ray Data: the audit of logged judgments across a cluster
(:func:`audit_dataset`, ``judgeguard audit PATH... --ray``), with the local audit's exact
numbers, checks bounded per MetaJudge endpoint, and resumable reruns."""

from __future__ import annotations

from judgeguard_ray._version import __version__
from judgeguard_ray.audit import AuditResult, audit_dataset
from judgeguard_ray.inputs import read_judgments

__all__ = ["AuditResult", "__version__", "audit_dataset", "read_judgments"]
