"""The public seams keep their types: tests/typing/guard_signatures.py is checked by mypy.

It asserts (``typing_extensions.assert_type``) that a guarded sync judge returns its own
type, ``.run()`` a ``GuardResult`` of it, an async judge's call an awaitable of its type,
and that wrong arguments are type errors (each ``type: ignore`` must be needed).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.slow
def test_guard_signatures_type_check():
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--warn-unused-ignores",
            "--no-error-summary",
            "--config-file",
            str(HERE.parent / "pyproject.toml"),
            str(HERE / "typing" / "guard_signatures.py"),
            str(HERE / "typing" / "langchain_signatures.py"),
        ],
        env={**os.environ, "MYPYPATH": str(HERE.parent / "integrations" / "langchain")},
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
