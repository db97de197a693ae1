"""Long, realistic judge outputs in every supported format (tests/fixtures/judge_outputs)."""

import json
from pathlib import Path

import pytest

import judgeguard as jg

FIXTURES = Path(__file__).parent / "fixtures" / "judge_outputs"
CASES = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_realistic_output(case):
    text = (FIXTURES / case["file"]).read_text(encoding="utf-8")
    if case["error"]:
        with pytest.raises(getattr(jg, case["error"])) as info:
            jg.parse(text, verdict=case["spec"])
        assert info.value.reason and info.value.excerpt
        return
    j = jg.parse(text, verdict=case["spec"])
    assert j.format == case["format"]
    assert j.verdict.kind == case["kind"]
    assert j.verdict.render() == case["verdict"]
    for phrase in case["absent"]:
        assert phrase not in j.rationale, phrase
    for phrase in case["present"]:
        assert phrase in j.rationale, phrase
    assert jg.find_markup(j.rationale) == []


def test_corpus_covers_every_format():
    formats = {c["format"] for c in CASES if not c["error"]}
    assert formats >= {
        "arena_hard",
        "mtbench_pairwise",
        "mtbench_single",
        "mtbench_two_score",
        "prometheus_absolute",
        "prometheus_relative",
        "inspect_grade",
        "yes_no_last_line",
        "autoj",
        "output_ab",
        "phoenix_label",
        "trulens_score",
        "json",
        "xml_tags",
    }
    errors = {c["error"] for c in CASES if c["error"]}
    assert errors == {"AmbiguousVerdict", "VerdictNotFound", "ScoreOutOfRange"}
