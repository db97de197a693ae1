"""Agreement between the members of a MetaJudge ensemble across a batch (Fleiss' kappa)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from judgeguard.schema import Check
from judgeguard.verdicts import kind_rules

__all__ = ["fleiss_kappa"]


def _category(check: Check) -> str | None:
    if check.status not in ("consistent", "inconsistent") or check.supported is None:
        return None
    return kind_rules(check.supported.kind).category(check.supported)


def fleiss_kappa(checks: Sequence[Check]) -> float | None:
    """Fleiss' kappa of the ensemble members' supported verdicts over a batch of checks.

    Each check is an item rated by every member (the category is the supported winner
    for pairwise verdicts, the supported verdict otherwise). Items where a member failed
    are left out, so every item has the same number of raters. 1 = perfect agreement,
    0 = chance level, < 0 = worse than chance. ``None`` when fewer than two members or
    no complete item, or when every rating falls in one category (kappa is undefined).
    """
    items: list[Counter[str]] = []
    raters = None
    for check in checks:
        cats = [_category(m) for m in check.members]
        if len(cats) < 2 or any(c is None for c in cats):
            continue
        if raters is None:
            raters = len(cats)
        if len(cats) != raters:
            raise ValueError("all checks must come from ensembles of the same size")
        items.append(Counter(c for c in cats if c is not None))
    if not items or raters is None:
        return None
    n, k = len(items), raters
    totals: Counter[str] = Counter()
    for item in items:
        totals.update(item)
    p_j = {c: v / (n * k) for c, v in totals.items()}
    p_e = sum(p * p for p in p_j.values())
    if p_e >= 1.0:
        return None
    p_i = [(sum(v * v for v in item.values()) - k) / (k * (k - 1)) for item in items]
    p_bar = sum(p_i) / n
    return (p_bar - p_e) / (1 - p_e)
