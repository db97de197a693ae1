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
    "ray",
    "pyarrow",
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


def test_judgeguard_and_the_local_audit_never_import_ray(tmp_path):
    """Ray is the judgeguard-ray distribution's: neither ``import judgeguard`` nor a local
    audit (CLI included) loads it, installed or not."""
    log = tmp_path / "log.jsonl"
    log.write_text('{"judge": "j", "output": "A is right.\\n\\nMy final verdict is: [[A>B]]"}\n')
    code = (
        "import os, sys; from judgeguard.cli import main; "
        f"main(['audit', {str(log)!r}, '--json', '--no-cache', '--no-progress'])"
    )
    loaded = _modules_after("import judgeguard\n" + code)
    assert not {m for m in loaded if m.split(".")[0] in ("ray", "judgeguard_ray", "pyarrow")}
