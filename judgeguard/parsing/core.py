"""``parse``: from a judge's output to a Judgment with a redacted rationale."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from judgeguard.errors import AmbiguousVerdict, VerdictNotFound, excerpt
from judgeguard.parsing.inputs import JudgeOutput, read_output, scan_window, split_thinking
from judgeguard.parsing.redact import (
    Redactor,
    conclusion_spans,
    heading_span,
    statement_span,
)
from judgeguard.parsing.registry import registered_formats
from judgeguard.parsing.structured import find_json_objects, tag_verdict, verdict_from_mapping
from judgeguard.parsing.textformats import (
    Candidate,
    Carried,
    carried_lookups,
    cut_view,
    find_candidates,
    markup_spans,
    nothing_left,
    text_index,
)
from judgeguard.schema import Judgment
from judgeguard.verdicts import Verdict, VerdictSpec, interpret_value

__all__ = ["find_markup", "parse"]

#: Below this many non-space characters a visible answer holds no reasoning of its own,
#: and a reasoning model's thinking becomes the rationale.
MIN_RATIONALE_CHARS = 40
_AUTO = VerdictSpec.coerce("auto")  # the instance parse("…") gets: one per process


def parse(output: Any, verdict: VerdictSpec | str | None = "auto") -> Judgment:
    """Split a judge's output into its rationale and its verdict.

    ``output`` may be a string, a dict, a pydantic model, a dataclass, a litellm/OpenAI
    chat completion, a LangChain message or evaluator result, or an openevals result.
    ``verdict`` narrows what to look for: ``"auto"``, ``"pairwise"``, ``"score:1-10"``,
    ``"label:pass,fail"`` … Ratings the judge does not stand behind (of its own rewrite,
    hypothetical or conditional, examples, quotations, negations, echoed options) are not
    the verdict; an explicit final verdict wins over earlier mentions; different verdicts
    with nothing saying which is final, in any mix of formats, raise
    :class:`AmbiguousVerdict`; no verdict raises :class:`VerdictNotFound`; a score outside
    its scale raises
    :class:`ScoreOutOfRange` (all :class:`ParseError`). The returned judgment's
    ``rationale`` has the verdict and the sentences stating it removed.
    """
    spec = VerdictSpec.coerce(verdict)
    out, unscanned = _bounded(read_output(output))
    found = _from_structured(out, spec)
    if found is None:
        visible, thinking = split_thinking(out.text)
        thinking = out.thinking or thinking
        found = _from_text(visible, spec, thinking)
    verdict_, fmt, _source, redactor, origin, items, thinking_ = found
    return Judgment(
        raw=out.raw,
        rationale=redactor.text(),
        verdict=verdict_,
        format=fmt,
        rationale_source=redactor.source,
        redactions=redactor.redactions(),
        thinking=thinking_,
        rationale_origin=origin,
        atomic_reasons=items,
        judge_model=out.model,
        response_id=out.response_id,
        unscanned_chars=unscanned + redactor.unscanned,
    )


def _bounded(out: JudgeOutput) -> tuple[JudgeOutput, int]:
    """``out`` with its text and thinking cut to what the parser scans (their tails)."""
    text, skipped = scan_window(out.text)
    thinking, skipped_thinking = (
        scan_window(out.thinking) if out.thinking is not None else (None, 0)
    )
    if not skipped and not skipped_thinking:
        return out, 0
    return dataclasses.replace(out, text=text, thinking=thinking), skipped + skipped_thinking


_Found = tuple[
    Verdict,
    str,
    str,
    Redactor,
    Literal["output", "thinking", "field"],
    "tuple[str, ...] | None",
    "str | None",
]


def _from_structured(out: JudgeOutput, spec: VerdictSpec) -> _Found | None:
    """A verdict held in data: a returned mapping or tool-call arguments."""
    hits = [fv for m in out.structured if (fv := verdict_from_mapping(m, spec)) is not None]
    if not hits:
        return None
    _check_agree([fv.verdict for fv in hits], out.raw)
    fv = hits[-1]
    fmt = out.structured_kind
    source = fv.reasoning or ""
    thinking = out.thinking
    if not source and out.text:
        visible, thinking_in_text = split_thinking(out.text)
        thinking = thinking or thinking_in_text
        source = visible
    redactor = _redact(source, fv.verdict, [], field=True)
    return fv.verdict, fmt, source, redactor, "field", fv.reasoning_list, thinking


def _from_text(text: str, spec: VerdictSpec, thinking: str | None) -> _Found:
    for user_fmt in registered_formats():
        cands = user_fmt.candidates(text, spec)
        if any(c.demoted is None for c in cands):
            chosen = _select(cands, text)
            markup = find_candidates(text, _AUTO) + cands
            return _finish(text, chosen, user_fmt.name, markup, thinking)

    tagged = tag_verdict(text, spec)
    if tagged is not None:
        verdict, (ts, te), body = tagged
        if body is not None:
            source = text[body[0] : body[1]]
            red = _redact(source, verdict, [], field=True)
            return verdict, "xml_tags", source, red, "field", None, thinking
        red = Redactor(text)
        red.remove(ts, te, "verdict")
        _redact_into(red, text, verdict, find_candidates(text, _AUTO))
        return verdict, "xml_tags", text, red, "output", None, thinking

    objects = []
    for start, end, obj in find_json_objects(text):
        fv = verdict_from_mapping(obj, spec)
        if fv is not None:
            objects.append((start, end, fv))
    if objects:
        _check_agree([fv.verdict for _, _, fv in objects], text)
        start, end, fv = objects[-1]
        if fv.reasoning:
            source = fv.reasoning
            red = _redact(source, fv.verdict, [], field=True)
            return fv.verdict, "json", source, red, "field", fv.reasoning_list, thinking
        red = Redactor(text)
        for s, e, _ in objects:
            s, e = _with_fence(text, s, e)
            red.remove(s, e, "verdict")
        _redact_into(red, text, fv.verdict, find_candidates(text, _AUTO))
        return fv.verdict, "json", text, red, "output", None, thinking

    cands = find_candidates(text, spec)
    if not cands:
        hint = ""
        if thinking and find_candidates(thinking, spec):
            hint = " (the thinking block has verdict-like text, but the answer does not)"
        raise VerdictNotFound(
            "no verdict found in the judge output" + hint + "; pass verdict='…' to say what "
            "to look for, or register the judge's format with judgeguard.register_format",
            excerpt=excerpt(text or (thinking or "")),
        )
    chosen = _select(cands, text)
    # under "auto" the candidates already are every built-in markup in the text
    markup = cands if spec == _AUTO else find_candidates(text, _AUTO)
    return _finish(text, chosen, chosen.format, markup, thinking)


def _finish(
    text: str, chosen: Candidate, fmt: str, markup: list[Candidate], thinking: str | None
) -> _Found:
    """Redact ``markup`` (every verdict token in ``text``, the chosen one included)."""
    assert chosen.verdict is not None
    verdict = chosen.verdict
    red = Redactor(text)
    _redact_into(red, text, verdict, markup, chosen=chosen)
    if thinking and len("".join(red.text().split())) < MIN_RATIONALE_CHARS:
        tred = Redactor(thinking)
        _redact_into(tred, thinking, verdict, find_candidates(thinking, _AUTO))
        if len("".join(tred.text().split())) >= MIN_RATIONALE_CHARS:
            return verdict, fmt, thinking, tred, "thinking", None, thinking
    return verdict, fmt, text, red, "output", None, thinking


def _compatible(a: Verdict, b: Verdict) -> bool:
    """Same verdict, or the same pairwise winner said with and without a strength level."""
    # equal verdicts render alike (a render is a function of the fields), and equal
    # tokens share one reading (``is``): pydantic's == need not be asked
    if a is b:
        return True
    if a.kind == b.kind == "pairwise":
        # a pairwise verdict renders its winner and whether its strength is 2: the same
        # render, or the same winner with and without a strength level
        return a.winner == b.winner and (
            a.winner == "tie"
            or a.strength is None
            or b.strength is None
            or (a.strength == 2) == (b.strength == 2)
        )
    return a.render() == b.render()


def _check_agree(verdicts: list[Verdict], text: str) -> None:
    for v in verdicts[1:]:
        if not _compatible(v, verdicts[0]):
            distinct = tuple(sorted({x.render() for x in verdicts}))
            raise AmbiguousVerdict(
                f"the judge gave several different verdicts {list(distinct)}; judgeguard "
                "will not guess which one is final",
                excerpt=excerpt(text),
                candidates=distinct,
            )


def _select(cands: list[Candidate], text: str) -> Candidate:
    """The verdict the judge stands behind among the candidates, or a :class:`ParseError`.

    Tokens the judge does not stand behind are set aside: ratings of a rewrite,
    hypotheticals, examples, negations, lists of options (``demoted``) and, when anything
    else is left, quoted tokens. An explicit final statement ("my final verdict is …")
    supersedes what came before it; every token left after that — final statements, later
    tokens, and tokens of every format when nothing says "final" — must agree, whichever
    format each is written in, or the output is ambiguous.
    """
    # the last final statement the judge stands behind: with one, what comes before it
    # and is no final statement does not count, nor need its context be read
    last = None
    for c in reversed(cands):
        if c.stated and not c.quoted and c.demoted is None:
            last = c
            break
    if last is not None:
        pool = [
            c
            for c in cands
            if not c.quoted and (c.stated or c.start > last.start) and c.demoted is None
        ]
        return _choose(pool, text)
    kept = [c for c in cands if c.demoted is None]
    if not kept:
        reasons = sorted({c.demoted for c in cands if c.demoted})
        raise VerdictNotFound(
            "the only verdicts in the judge output are not the judge's own ("
            + ", ".join(reasons)
            + "): a rating of a rewrite, a hypothetical, an example or a negation",
            excerpt=excerpt(text, cands[0].start, cands[-1].end),
        )
    unquoted = [c for c in kept if not c.quoted] or kept
    stated = [c for c in unquoted if c.stated]
    # a final statement supersedes earlier mentions, not later ones
    pool = [c for c in unquoted if c.stated or c.start > stated[-1].start] if stated else unquoted
    return _choose(pool, text)


def _choose(pool: list[Candidate], text: str) -> Candidate:
    """The verdict of the candidates that count (in text order), or a :class:`ParseError`."""
    chosen = pool[-1]
    if chosen.error is not None:
        raise chosen.error
    valid = [c for c in pool if c.verdict is not None]
    _check_agree_candidates(valid, text)
    # the most specific of compatible verdicts (a strength beats none), latest first
    for c in reversed(valid):
        if c.verdict is not None and c.verdict.strength is not None:
            return c
    return valid[-1]


def _check_agree_candidates(valid: list[Candidate], text: str) -> None:
    first = valid[0].verdict if valid else None
    for c in valid[1:]:
        assert c.verdict is not None and first is not None
        if c.verdict is not first and not _compatible(c.verdict, first):
            distinct = tuple(sorted({x.verdict.render() for x in valid if x.verdict}))
            raise AmbiguousVerdict(
                f"the judge gave several different verdicts {list(distinct)} and nothing "
                "says which one is final; judgeguard will not guess",
                excerpt=excerpt(text, valid[0].start, c.end),
                candidates=distinct,
            )


_FENCE_OPEN = re.compile(r"```[\w-]*[ \t]*\r?\n?[ \t]*$")
_FENCE_CLOSE = re.compile(r"[ \t]*\r?\n?[ \t]*```")


def _with_fence(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a JSON object's span over the code fence around it, if any."""
    m = _FENCE_OPEN.search(text, 0, start)
    n = _FENCE_CLOSE.match(text, end)
    if m and n:
        return m.start(), n.end()
    return start, end


def _redact(source: str, verdict: Verdict, cands: list[Candidate], *, field: bool) -> Redactor:
    """A redactor over ``source`` (its scanned tail when it is long, see SCAN_LIMIT)."""
    source, skipped = scan_window(source)
    if skipped:  # candidates found in the whole text do not apply to its tail
        cands = []
    red = Redactor(source, unscanned=skipped)
    _redact_into(red, source, verdict, cands + find_candidates(source, _AUTO), field=field)
    return red


def _redact_into(
    red: Redactor,
    text: str,
    verdict: Verdict,
    cands: list[Candidate],
    *,
    chosen: Candidate | None = None,
    field: bool = False,
) -> None:
    """Remove verdict markup and final statements from ``text``, then rescan until clean."""
    statements: set[tuple[int, int]] = set()
    for c in cands:
        stating = (
            (c.final or c is chosen or (chosen is not None and c.start == chosen.start))
            and c.verdict is not None
            and _compatible(c.verdict, verdict)
        )
        if stating:
            _remove_statement(red, text, verdict, c.start, c.end, statements)
        else:
            red.remove(c.start, c.end, "quoted_verdict" if c.quoted else "verdict")
    if field:
        # a reasoning field often ends by restating the verdict: "So I give it a 4."
        for s, e in conclusion_spans(text, len(text.rstrip()), verdict, standalone=True):
            red.remove(s, e, "verdict_statement")
    red.absorb_whitespace()
    index = text_index(text)
    for _ in range(8):
        pieces, cut = red.kept_pieces(), red.text()
        view = cut_view(index, pieces)  # (what both read of it, built once)
        if not registered_formats() and nothing_left(index, pieces, cut, view):
            break  # (the usual case, told without a scan)
        # the redacted text lower-cased and where the literals occur, from the source's
        carried = carried_lookups(index, pieces, view)
        leftovers = _markup_spans(cut, carried)
        if not leftovers:
            break
        red.remove_current_many(leftovers, "verdict")
        red.absorb_whitespace()


def _remove_statement(
    red: Redactor,
    text: str,
    verdict: Verdict,
    start: int,
    end: int,
    done: set[tuple[int, int]] | None = None,
) -> None:
    s, e, standalone = statement_span(text, start, end)
    red.remove(s, e, "verdict_statement")
    red.remove(start, end, "verdict")
    if done is not None:  # the sentence's conclusions and heading were removed already
        if (s, e) in done:
            return
        done.add((s, e))
    bare = _is_bare(text, s, e, start, end)
    for cs, ce in conclusion_spans(text, s, verdict, standalone, closing=bare):
        red.remove(cs, ce, "verdict_statement")
        s = cs
    heading = heading_span(text, s)
    if heading is not None:
        red.remove(heading[0], heading[1], "verdict_heading")


_DECORATION = " \t*_.:;!\"'`"
_DECORATION_RUN = re.compile("[" + re.escape(_DECORATION) + "]*")


def _is_bare(text: str, s: int, e: int, start: int, end: int) -> bool:
    """``text[s:e].strip(_DECORATION) == text[start:end]``, reading only the decoration
    around the token rather than slicing a sentence that may span a whole long line."""
    lead = _DECORATION_RUN.match(text, s, e).end()  # type: ignore[union-attr]
    if lead == e:
        return start == end
    trail = e
    while trail > lead and text[trail - 1] in _DECORATION:
        trail -= 1
    return trail - lead == end - start and text[lead:trail] == text[start:end]


def _markup_spans(text: str, carried: Carried | None = None) -> list[tuple[int, int]]:
    """The spans of :func:`find_markup` (without reading each token's context);
    ``carried``: what is known of ``text`` from the text it was cut from."""
    found = markup_spans(text, carried=carried)
    for fmt in registered_formats():
        if fmt.pattern is not None:
            found.extend((c.start, c.end) for c in fmt.candidates(text, _AUTO))
    return found


def find_markup(text: str) -> list[Candidate]:
    """Verdict markup of any built-in or registered format left in ``text``."""
    found = find_candidates(text, _AUTO)
    for fmt in registered_formats():
        if fmt.pattern is not None:
            found.extend(fmt.candidates(text, _AUTO))
    return found


def judgment_from_parts(
    rationale: str,
    verdict: Verdict | str | float | bool,
    spec: VerdictSpec | str | None = None,
) -> Judgment:
    """A Judgment from a rationale and a verdict logged separately.

    The verdict is read like a rendered verdict (``"A>B"``, ``7``, ``"pass"``) under
    ``spec``; the rationale is redacted like a reasoning field (verdict markup and a
    trailing restatement of the verdict are removed). Raises :class:`ParseError`.
    """
    spec_ = VerdictSpec.coerce(spec)
    if isinstance(verdict, Verdict):
        v = verdict
    else:  # a logged verdict field: read it like a verdict key of structured output
        found = interpret_value(verdict, spec_, key="verdict")
        if found is None:
            raise VerdictNotFound(
                f"the logged verdict {verdict!r} is not a verdict", excerpt=excerpt(str(verdict))
            )
        v = found
    red = _redact(rationale, v, [], field=True)
    return Judgment(
        raw=rationale,
        rationale=red.text(),
        verdict=v,
        format="parts",
        rationale_source=red.source,
        redactions=red.redactions(),
        rationale_origin="field",
        unscanned_chars=red.unscanned,
    )
