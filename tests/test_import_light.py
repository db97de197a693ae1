"""Importing judgeguard must not import litellm, LangChain, pydantic or the OTel SDK."""

import subprocess
import sys

HEAVY = (
    "litellm",
    "langchain_core",
    "langchain",
    "opentelemetry.sdk",
    "openai",
    "pydantic",
    "diskcache",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_import_judgeguard_is_light():
    loaded = _modules_after("import judgeguard")
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []


def test_parse_needs_only_pydantic():
    loaded = _modules_after("import judgeguard as jg\njg.parse('Rating: [[5]]')")
    assert "pydantic" in loaded
    assert not {m for m in loaded if m.startswith(("litellm", "langchain", "opentelemetry.sdk"))}


def test_public_names_resolve():
    import judgeguard as jg

    for name in jg.__all__:
        assert getattr(jg, name) is not None, name
