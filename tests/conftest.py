"""Test-wide settings: litellm must never fetch its remote cost map or reach a provider."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from hypothesis import settings

# HYPOTHESIS_PROFILE=deep for a long local search; CI uses the per-test settings
settings.register_profile("standard", max_examples=400, deadline=None)
settings.register_profile("deep", max_examples=20000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "standard"))

from loopback import loopback_llm  # noqa: E402,F401  (fixture: a loopback OpenAI server)
