"""Test-wide settings: litellm must never fetch its remote cost map or reach a provider."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from hypothesis import settings

# HYPOTHESIS_PROFILE=deep for a long local search; CI uses the per-test settings
settings.register_profile("standard", max_examples=400, deadline=None)
settings.register_profile("deep", max_examples=20000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "standard"))

import pytest  # noqa: E402
from loopback import LoopbackLLM  # noqa: E402

import judgeguard as jg  # noqa: E402


@pytest.fixture
def otel(monkeypatch):
    """Explicit SDK providers with in-memory exporters, and a Telemetry on them (content
    capture off unless a test asks)."""
    from types import SimpleNamespace

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from judgeguard import semconv as sc

    monkeypatch.delenv(sc.CAPTURE_CONTENT_ENV, raising=False)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield SimpleNamespace(
        exporter=exporter,
        reader=reader,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        telemetry=jg.Telemetry(tracer_provider, meter_provider),
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def isolated_judgeguard(tmp_path, monkeypatch):
    """A private cache directory, no MetaJudge from the environment, a fresh dispatcher."""
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JUDGEGUARD_METAJUDGE", raising=False)
    from judgeguard.dispatch import BACKGROUND_START_DELAY

    dispatcher = jg.Dispatcher(start_delay=BACKGROUND_START_DELAY)  # as a process's own
    previous = jg.set_dispatcher(dispatcher)
    yield
    jg.flush(10)
    jg.set_dispatcher(previous)
    dispatcher.close(10)  # its loop and what client libraries left on it


@pytest.fixture(params=["fast", "litellm"])
def loopback_llm(request, monkeypatch):
    """A started loopback OpenAI server; every test using it runs through both MetaJudge
    transports (the aiohttp fast path and litellm, via $JUDGEGUARD_TRANSPORT)."""
    monkeypatch.setenv("JUDGEGUARD_TRANSPORT", "auto" if request.param == "fast" else "litellm")
    with LoopbackLLM() as server:
        yield server
