"""Verdict model, verdict= specs and outcome normalisation (DESIGN §1)."""

import pytest

import judgeguard as jg
from judgeguard.verdicts import VerdictSpec


@pytest.mark.parametrize(
    ("winner", "strength", "rendered", "outcome"),
    [
        ("A", 2, "A>>B", 1.0),
        ("A", 1, "A>B", 0.75),
        ("tie", None, "A=B", 0.5),
        ("B", 1, "B>A", 0.25),
        ("B", 2, "B>>A", 0.0),
        ("A", None, "A>B", 1.0),
        ("B", None, "B>A", 0.0),
    ],
)
def test_pairwise_render_and_outcome(winner, strength, rendered, outcome):
    v = jg.Verdict.pairwise(winner, strength)
    assert v.render() == rendered
    assert v.outcome() == outcome


def test_score_outcome_is_position_on_scale():
    assert jg.Verdict.score(7, (1, 10)).outcome() == pytest.approx(6 / 9)
    assert jg.Verdict.score(0, (0, 10)).outcome() == 0.0
    assert jg.Verdict.score(7).outcome() is None  # unknown scale: no guess
    assert jg.Verdict.score(8.5, (1, 10)).render() == "8.5"
    assert jg.Verdict.score(8.0, (1, 10)).render() == "8"


def test_score_outside_scale_is_rejected_not_clamped():
    with pytest.raises(ValueError, match="outside the scale"):
        jg.Verdict.score(11, (1, 10))
    with pytest.raises(jg.ScoreOutOfRange):
        VerdictSpec.parse("score:1-10").make_score(11, None)


def test_label_outcome_from_common_words_and_declared_values():
    assert jg.Verdict.of_label("PASS").outcome() == 1.0
    assert jg.Verdict.of_label('"Hallucinated"').render() == "hallucinated"
    assert jg.Verdict.of_label("hallucinated").outcome() == 0.0
    assert jg.Verdict.of_label("meh").outcome() is None
    spec = VerdictSpec.parse("label:good=1,ok=0.5,bad=0")
    assert spec.make_label("ok").outcome() == 0.5
    with pytest.raises(jg.ParseError, match="not one of the declared options"):
        spec.make_label("great")


@pytest.mark.parametrize(
    ("text", "kind", "scale", "options"),
    [
        ("auto", "auto", None, None),
        ("pairwise", "pairwise", None, None),
        ("score", "score", None, None),
        ("score:1-10", "score", (1.0, 10.0), None),
        ("score: 0 .. 5", "score", (0.0, 5.0), None),
        ("label:pass,fail", "label", None, ("pass", "fail")),
    ],
)
def test_spec_strings(text, kind, scale, options):
    spec = VerdictSpec.parse(text)
    assert (spec.kind, spec.scale, spec.options) == (kind, scale, options)


@pytest.mark.parametrize("bad", ["score:10-1", "score:abc", "rubric", "label:a=x", "label:,"])
def test_bad_specs_raise_a_typed_error_with_a_hint(bad):
    with pytest.raises(jg.InvalidVerdictSpec) as info:
        VerdictSpec.parse(bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(jg.InvalidVerdictSpec):
        jg.parse("Rating: [[5]]", verdict=bad)


def test_gold_label_agreement():
    v = jg.Verdict.pairwise("A", 2)
    assert v.agrees_with("A>B")  # winner is what gold labels carry
    assert v.agrees_with("[[A>>B]]")
    assert not v.agrees_with("B>A")
    assert not v.agrees_with("A=B")
    assert jg.Verdict.score(7, (1, 10)).agrees_with(7)
    assert not jg.Verdict.score(7, (1, 10)).agrees_with("8")
    assert jg.Verdict.of_label("pass").agrees_with("PASS")


def test_mirror_swaps_sides_and_scores():
    v = jg.Verdict.pairwise("A", 1, scores=(8, 3))
    m = v.mirrored()
    assert m.render() == "B>A" and m.scores == (3, 8)
    assert jg.Verdict.pairwise("tie").mirrored().render() == "A=B"
    assert m.mirrored() == v


def test_option_space():
    assert jg.Verdict.pairwise("A", 2).option_space() == ("A>>B", "A>B", "A=B", "B>A", "B>>A")
    assert jg.Verdict.pairwise("A").option_space() == ("A>B", "A=B", "B>A")
    assert jg.Verdict.score(4, (1, 5)).option_space() == ("1", "2", "3", "4", "5")
    assert jg.Verdict.of_label("y").option_space() == ("y", "n")
    assert jg.Verdict.of_label("c", ("c", "p", "i")).option_space() == ("c", "p", "i")


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("A>B", "A>B"),
        ("B >> A", "B>>A"),
        ("A<B", "B>A"),
        ("A<<B", "B>>A"),
        ("tie", "A=B"),
        ("[[A=B]]", "A=B"),
        ("7", "7"),
        ("7/10", "7"),
        ("pass", "pass"),
        ("Response 2", "B>A"),
        ("Assistant A", "A>B"),
    ],
)
def test_verdict_parse_reads_rendered_verdicts(text, rendered):
    assert jg.Verdict.parse(text).render() == rendered


def test_verdict_parse_rejects_prose():
    with pytest.raises(jg.ParseError):
        jg.Verdict.parse("the first answer is a lot nicer than the second one overall")


def test_verdict_is_frozen_and_serialisable():
    v = jg.Verdict.pairwise("B", 2)
    assert jg.Verdict.model_validate_json(v.model_dump_json()) == v
    with pytest.raises(ValueError, match="frozen"):
        v.winner = "A"  # type: ignore[misc]
