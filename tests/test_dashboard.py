"""docs/dashboard.md's PromQL, run against a real Prometheus server scraping judgeguard's
metrics (marker ``prometheus``: needs Debian's ``prometheus`` binary, which .ci/run installs).

Two judges over a loopback MetaJudge that always supports "B>>A": ``sound_judge`` says B>>A
(its rationale supports it), ``deceptive_judge`` says A>>B (it does not). Every documented
query must return data, and the headline ones must tell the two judges apart.
"""

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from guard_helpers import B_WINS, mj_for
from loopback import LoopbackLLM, Reply
from servers import free_port

import judgeguard as jg

pytestmark = pytest.mark.prometheus

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def documented_queries():
    return re.findall(r"```promql\n(.*?)```", (DOCS / "dashboard.md").read_text(), re.S)


def query(base, promql):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def by_judge(results):
    return {r["metric"].get("judgeguard_judge_name"): float(r["value"][1]) for r in results}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus scraping an in-process Prometheus metric endpoint every second."""
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is not installed (apt-get install prometheus)")
    pytest.importorskip("opentelemetry.exporter.prometheus")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    metrics_port, web_port = free_port(), free_port()
    server, _thread = start_http_server(metrics_port, addr="127.0.0.1")
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: judgeguard\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / "prometheus.log").open("w"),
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if query(base, 'up{job="judgeguard"} == 1'):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prometheus did not start: " + (work / "prometheus.log").read_text())
            time.sleep(0.3)
        reader = PrometheusMetricReader()
        yield base, MeterProvider(metric_readers=[reader])
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.shutdown()


def wait_for(base, promql, expected, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = by_judge(query(base, promql))
        if all(got.get(k) == v for k, v in expected.items()):
            return
        time.sleep(0.5)
    raise AssertionError(f"{promql}: wanted {expected}, have {got}")


@pytest.fixture
def metajudges():
    """One MetaJudge that supports B>>A, one whose endpoint answers 503 (the metrics do not
    depend on the transport)."""
    with (
        LoopbackLLM(lambda body: B_WINS) as good,
        LoopbackLLM(lambda body: Reply(status=503)) as down,
    ):
        yield mj_for(good), mj_for(down)


def test_the_documented_queries_run_on_prometheus_and_tell_a_deceptive_judge_apart(
    prometheus, metajudges
):
    base, meter_provider = prometheus
    telemetry = jg.Telemetry(meter_provider=meter_provider)
    metajudge, down = metajudges

    def sound_judge(i, label="B>A"):  # the gold label, read as the check's context
        return f"Case {i}: B handles the empty list; A crashes.\n\nMy final verdict is: [[B>>A]]"

    def deceptive_judge(i, label="B>A"):
        return f"Case {i}: B handles the empty list; A crashes.\n\nMy final verdict is: [[A>>B]]"

    class Sink(jg.sinks.Sink):
        name = "test"

        def post(self, items):
            pass

    class RefusingSink(jg.sinks.Sink):
        name = "refusing"

        def post(self, items):
            raise ValueError("HTTP 400")

    sink = Sink(flush_interval=0.05, telemetry=telemetry)
    refusing = RefusingSink(flush_interval=0.05, telemetry=telemetry)
    judges = [
        jg.guard(j, metajudge=metajudge, telemetry=telemetry, on_result=sink)
        for j in (sound_judge, deceptive_judge)
    ]

    def unlucky_judge(i):
        return sound_judge(i)

    unlucky = jg.guard(unlucky_judge, metajudge=down, telemetry=telemetry, on_result=refusing)
    names = [sound_judge.__qualname__, deceptive_judge.__qualname__]
    total = (
        'sum by (judgeguard_judge_name) (judgeguard_checks_total{judgeguard_check_cached="false"})'
    )
    # two waves, each scraped: rate() needs an increase between two samples
    for start, stop in [(0, 2), (2, 8)]:
        for i in range(start, stop):
            for judge in judges:
                judge(i)
            unlucky(1000 + i)  # a check that fails: 503
        assert jg.flush(30) == 0
        judges[0](start)  # a repeated output, once its check is done: a cache hit
        assert jg.flush(30) == 0
        sink.flush(10)
        refusing.flush(10)
        wait_for(base, total, dict.fromkeys(names, float(stop)))
    time.sleep(2.5)  # a few more scrapes so every series has its samples

    queries = documented_queries()
    assert len(queries) == 9
    results = {q: query(base, q) for q in queries}
    for promql, result in results.items():
        assert result, f"no data for:\n{promql}"
        for sample in result:
            value = float(sample["value"][1])
            assert not math.isnan(value), f"NaN for:\n{promql}\n{sample}"

    mean_rc, mean_reward, low_rc, inconsistent = (by_judge(results[q]) for q in queries[:4])
    sound, deceptive = names
    assert mean_rc[sound] == pytest.approx(0.9, abs=0.01)  # p(B wins) in B_WINS
    assert mean_rc[deceptive] == pytest.approx(0.05, abs=0.01)  # p(A wins)
    assert mean_reward == {sound: pytest.approx(0.9, abs=0.01), deceptive: pytest.approx(0.0)}
    assert low_rc == {sound: pytest.approx(0.0), deceptive: pytest.approx(1.0)}
    assert inconsistent == {sound: pytest.approx(0.0), deceptive: pytest.approx(1.0)}
    by_status = {
        (r["metric"]["judgeguard_judge_name"], r["metric"]["judgeguard_check_status"])
        for r in results[queries[4]]
    }
    assert by_status == {
        (sound, "consistent"),
        (deceptive, "inconsistent"),
        (unlucky_judge.__qualname__, "error"),
    }
    (failed,) = results[queries[5]]
    assert failed["metric"]["error_type"] == "server_error"
    (hit_ratio,) = results[queries[7]]
    assert 0 < float(hit_ratio["value"][1]) < 1
    (lost,) = results[queries[8]]
    assert lost["metric"]["judgeguard_sink_name"] == "refusing"
    assert lost["metric"]["judgeguard_sink_outcome"] == "failed"
    sink.close()
    refusing.close()


def test_the_grafana_dashboard_holds_exactly_the_documented_queries():
    dashboard = json.loads((DOCS / "grafana" / "judgeguard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs == [" ".join(q.split()) for q in documented_queries()]
