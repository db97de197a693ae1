"""Nothing judgeguard or litellm prints reaches the user's stdout (checked at the fd level,
in a subprocess): litellm's failure banners are dropped for judgeguard's own calls only."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from loopback import Reply

ROOT = Path(__file__).parent.parent

GUARDED = textwrap.dedent(
    """
    import sys
    import judgeguard as jg

    mj = jg.MetaJudge("{model}", api_base="{base}", api_key="k", retries=0, timeout=5)

    @jg.guard(metajudge=mj, cache=False)
    def judge(question):
        return "A's loop is wrong and B's is right.\\n\\nMy final verdict is: [[B>A]]"

    handle = judge.run("q")
    check = handle.check(timeout=30)
    jg.flush(10)
    sys.stderr.write(f"STATUS {{check.status}} {{check.reason}}\\n")
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    env.pop("JUDGEGUARD_METAJUDGE", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_guarded_call_with_failing_metajudge_prints_nothing(loopback_llm, tmp_path):
    loopback_llm.responder = lambda body: Reply(status=500, content="upstream exploded")
    proc = _run(GUARDED.format(model="openai/judge-test", base=loopback_llm.base_url))
    assert "STATUS error server_error" in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_unreachable_metajudge_and_unknown_provider_print_nothing(tmp_path):
    base = f"http://127.0.0.1:{_unused_port()}/v1"
    proc = _run(GUARDED.format(model="openai/judge-test", base=base))
    assert "STATUS error" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    proc = _run(GUARDED.format(model="no-such-provider-model-xyz", base=base))
    assert "STATUS error" in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_users_own_litellm_calls_keep_litellms_behaviour(loopback_llm):
    """Only judgeguard's calls are quiet: a user's failing call still prints litellm's
    banner, and litellm.suppress_debug_info is left as the user set it."""
    loopback_llm.responder = lambda body: Reply(status=500, content="upstream exploded")
    code = textwrap.dedent(
        f"""
        import judgeguard as jg
        from judgeguard.metajudge.client import import_litellm

        litellm = import_litellm()
        try:
            litellm.completion(model="openai/x", api_base="{loopback_llm.base_url}",
                               api_key="k", messages=[{{"role": "user", "content": "hi"}}],
                               num_retries=0)
        except Exception:
            pass
        print("suppress", litellm.suppress_debug_info)
        """
    )
    proc = _run(code)
    assert "Give Feedback / Get Help" in proc.stdout
    assert "suppress False" in proc.stdout
