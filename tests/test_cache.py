"""The check cache: an unusable cache degrades with one warning, keys cover the whole request.

Stale-hit tests run real requests against loopback servers: a change to anything that can
change the MetaJudge's answer must reach a server, never come from the cache.
"""

import inspect
import json
import os
import pickle
import sqlite3
import warnings

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from loopback import LoopbackLLM

import judgeguard as jg
from judgeguard.cache import CacheUnavailableWarning, DiskCache
from judgeguard.metajudge.requestkey import (
    EXCLUDED_OPTIONS,
    KEYED_OPTIONS,
    classify_option,
    endpoint_key,
    options_key,
)
from judgeguard.schema import Check

pytestmark = pytest.mark.usefixtures("isolated_judgeguard")


def _check(judge):
    return judge.run().check(30)


def _cache_warnings(caught):
    return [w for w in caught if issubclass(w.category, CacheUnavailableWarning)]


# -- an unusable cache never breaks the guard (issue 10.3) ---------------------------------
def _file_dir(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    return path


def _uncreatable(tmp_path):
    return _file_dir(tmp_path) / "sub"


def _corrupt(tmp_path):
    path = tmp_path / "corrupt"
    path.mkdir()
    (path / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    return path


@pytest.mark.parametrize("make", [_file_dir, _uncreatable, _corrupt])
def test_an_unusable_cache_directory_warns_once_and_checks_still_run(loopback_llm, tmp_path, make):
    loopback_llm.script(B_WINS, B_WINS)
    directory = make(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=directory)
        first, second = _check(judge), _check(judge)
        jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=directory)
    assert (first.status, second.status) == ("consistent", "consistent")
    assert (first.cached, second.cached) == (False, False)
    assert len(loopback_llm.requests) == 2
    (warning,) = _cache_warnings(caught)  # one warning, whatever the number of checks
    text = str(warning.message)
    assert str(directory) in text and "JUDGEGUARD_CACHE_DIR" in text and "cache=False" in text
    assert judge.cache.disabled and judge.cache.disabled_reason
    assert (judge.cache.hits, judge.cache.misses, len(judge.cache)) == (0, 0, 0)


def test_the_default_cache_in_an_unusable_directory_does_not_break_decoration(
    loopback_llm, tmp_path, monkeypatch
):
    monkeypatch.setenv("JUDGEGUARD_CACHE_DIR", str(_uncreatable(tmp_path)))
    loopback_llm.script(B_WINS, B_WINS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm))
        assert judge() == verdict_text()
        assert jg.flush(30) == 0
        check = _check(judge)
    assert check.status == "consistent"
    assert len(_cache_warnings(caught)) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_disables_the_cache(loopback_llm, tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        loopback_llm.script(B_WINS)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check = _check(
                jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=directory)
            )
        assert check.status == "consistent" and len(_cache_warnings(caught)) == 1
    finally:
        directory.chmod(0o700)


def test_a_cache_that_goes_bad_while_running_degrades_the_same_way(loopback_llm, tmp_path):
    loopback_llm.script(B_WINS, B_WINS, B_WINS, B_WINS)
    cache = DiskCache(tmp_path / "c")
    judge = jg.guard(lambda i: verdict_text(i), metajudge=mj_for(loopback_llm), cache=cache)
    assert judge.run(0).check(30).status == "consistent" and len(cache) == 1

    store = cache._store()

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    store.set = broken  # the disk turns read-only under a running process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        after = [judge.run(i).check(30) for i in (1, 2)]
    # the MetaJudge answered: the check is not an internal_error because the write failed
    assert [c.status for c in after] == ["consistent", "consistent"]
    assert cache.disabled and "readonly" in (cache.disabled_reason or "")
    assert len(_cache_warnings(caught)) == 1
    assert judge.run(0).check(30).cached is False  # disabled: no more lookups
    assert len(loopback_llm.requests) == 4


def test_a_read_that_fails_disables_the_cache_and_misses(tmp_path):
    cache = DiskCache(tmp_path / "c")
    cache.put_record("k", "v")

    def broken(*args, **kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    cache._store().get = broken
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.get_record("k") is None and cache.get_check("k") is None
    assert cache.disabled and len(_cache_warnings(caught)) == 1
    assert cache.put_record("k", "w") is False


def test_an_entry_that_no_longer_reads_as_a_check_is_a_miss(tmp_path):
    cache = DiskCache(tmp_path / "c")
    cache.put_record("k", '{"status": "not a status"}')
    assert cache.get_check("k") is None and not cache.disabled


def test_an_unserialisable_result_is_not_stored_and_does_not_disable(tmp_path):
    cache = DiskCache(tmp_path / "c")
    bad = Check.model_construct(status="consistent", explanation=object())
    assert cache.put_check("k", bad) is False and not cache.disabled


def test_opening_is_lazy_and_a_disabled_cache_pickles_disabled(tmp_path):
    cache = DiskCache(_file_dir(tmp_path))
    assert cache._cache is None and not cache.disabled  # nothing opened yet
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert cache.usable() is False
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.disabled and copy.disabled_reason == cache.disabled_reason
    fine = pickle.loads(pickle.dumps(DiskCache(tmp_path / "ok")))
    assert not fine.disabled and fine.usable()


# -- the key covers the whole request (issue 11.2) ----------------------------------------
def _mj(server, **kw):
    return mj_for(server, **kw)


CHANGES = {
    "stop": {"stop": ["\n\n"]},
    "presence_penalty": {"presence_penalty": 0.5},
    "max_completion_tokens": {"max_completion_tokens": 300},
    "extra_body": {"extra_body": {"chat_template_kwargs": {"enable_thinking": False}}},
    "response_format": {"response_format": {"type": "json_object"}},
    "structured_output": {"structured_output": True},
    "max_context_tokens": {"max_context_tokens": 100},
    "temperature": {"temperature": 0.7},
    "an option litellm may add later": {"some_future_option": 1},
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_changing_a_request_option_is_never_a_stale_hit(loopback_llm, tmp_path, change):
    loopback_llm.script(B_WINS, B_WINS)
    cache = DiskCache(tmp_path / "c")
    context = {"question": "Which loop is right? " + "details " * 200}
    base = jg.guard(lambda question: verdict_text(), metajudge=_mj(loopback_llm), cache=cache)
    assert base.run(context["question"]).check(30).cached is False
    assert base.run(context["question"]).check(30).cached is True  # same request: a hit

    changed = jg.guard(
        lambda question: verdict_text(),
        metajudge=_mj(loopback_llm, **CHANGES[change]),
        cache=cache,
    )
    check = changed.run(context["question"]).check(30)
    assert check.cached is False and len(loopback_llm.requests) == 2


def _by_base_url(server):
    return jg.MetaJudge(
        "openai/judge-test", base_url=server.base_url, api_key="k", retries=0, timeout=5
    )


def test_a_different_base_url_reaches_the_other_server(loopback_llm, tmp_path):
    loopback_llm.script(B_WINS)
    cache = DiskCache(tmp_path / "c")
    with LoopbackLLM() as other:
        other.script(B_WINS)
        first = jg.guard(lambda: verdict_text(), metajudge=_by_base_url(loopback_llm), cache=cache)
        assert _check(first).cached is False and len(loopback_llm.requests) == 1
        assert _check(first).cached is True
        second = jg.guard(lambda: verdict_text(), metajudge=_by_base_url(other), cache=cache)
        assert _check(second).cached is False
        assert len(other.requests) == 1


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_API_BASE"])
def test_an_endpoint_from_the_environment_is_part_of_the_key(tmp_path, monkeypatch, variable):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    cache = DiskCache(tmp_path / "c")
    mj = jg.MetaJudge("openai/judge-test", api_key="k", retries=0, timeout=5)
    judge = jg.guard(lambda: verdict_text(), metajudge=mj, cache=cache)
    with LoopbackLLM() as one, LoopbackLLM() as two:
        one.script(B_WINS)
        two.script(B_WINS)
        monkeypatch.setenv(variable, one.base_url)
        assert _check(judge).cached is False and len(one.requests) == 1
        assert _check(judge).cached is True
        monkeypatch.setenv(variable, two.base_url)
        assert _check(judge).cached is False and len(two.requests) == 1


def test_gate_settings_and_labels_reuse_the_cached_answer_and_regate_it(loopback_llm, tmp_path):
    loopback_llm.script(B_WINS)
    cache = DiskCache(tmp_path / "c")
    first = _check(jg.guard(lambda: verdict_text(), metajudge=_mj(loopback_llm), cache=cache))
    assert (first.needs_review, first.reward, first.r_outcome) == (False, 0.0, 0.0)
    strict = jg.guard(
        lambda: verdict_text(), metajudge=_mj(loopback_llm, review_threshold=0.95), cache=cache
    )
    regated = _check(strict)
    assert regated.cached is True and regated.needs_review is True
    labelled = jg.guard(
        lambda label: verdict_text(), metajudge=_mj(loopback_llm, floor=0.5), cache=cache
    ).run(label="B>>A")
    check = labelled.check(30)
    assert check.cached is True and check.r_outcome == 1.0
    assert check.reward == pytest.approx(0.5 + 0.5 * check.r_rationale)
    assert check.calibrated is True
    assert len(loopback_llm.requests) == 1


def test_every_litellm_completion_parameter_is_classified():
    litellm = pytest.importorskip("litellm")
    from litellm.types.utils import all_litellm_params

    names = {
        name
        for name, p in inspect.signature(litellm.completion).parameters.items()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    names |= set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
    names |= set(all_litellm_params)
    unclassified = sorted(n for n in names if classify_option(n)[1] is None)
    assert unclassified == [], (
        "new litellm options: add each to KEYED_OPTIONS or to EXCLUDED_OPTIONS with the "
        "reason it cannot change the answer (judgeguard/metajudge/requestkey.py)"
    )
    # the request parameters proper are decided by name, not by a family pattern
    explicit = set(EXCLUDED_OPTIONS) | KEYED_OPTIONS
    signature = names & (
        set(inspect.signature(litellm.completion).parameters)
        | set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
    )
    assert sorted(signature - explicit - {"kwargs"}) == []
    assert all(reason for reason in EXCLUDED_OPTIONS.values())
    assert not set(EXCLUDED_OPTIONS) & KEYED_OPTIONS


def test_secrets_never_enter_a_key_in_clear():
    kwargs = {
        "api_key": "sk-secret-aaaaaaaaaaaa",
        "extra_headers": {"Authorization": "Bearer tok-bbbbbbbbbbbb"},
        "vendor_signature": "cccccccccccc",
        "temperature": 0,
        "api_base": "https://user:pw-dddddddd@gw.example.com/v1",
    }
    mj = jg.MetaJudge("openai/x", **kwargs)
    text = json.dumps(mj.sampling_key())
    for secret in ("sk-secret", "tok-bbbb", "cccccccc", "pw-dddd"):
        assert secret not in text
    keyed = options_key(kwargs)
    assert "api_key" not in keyed and keyed["temperature"] == 0
    assert keyed["vendor_signature"].startswith("sha256:")  # keyed, but hashed
    other = options_key({**kwargs, "extra_headers": {"Authorization": "Bearer other-xxxxxxxx"}})
    assert other != keyed  # a different header still changes the key


def test_option_values_are_keyed_the_same_in_every_process():
    class Client:
        pass

    a = options_key({"client": Client(), "response_format": {"type": "json_object"}, "n": 1})
    b = options_key({"client": Client(), "response_format": {"type": "json_object"}, "n": 1})
    assert a == b  # no memory addresses in keys


def test_endpoint_key_follows_the_provider(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://one/v1")
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", "http://vllm/v1")
    assert endpoint_key("openai/m", {}) == {"env": {"OPENAI_BASE_URL": "http://one/v1"}}
    assert endpoint_key("hosted_vllm/m", {})["env"] == {"HOSTED_VLLM_API_BASE": "http://vllm/v1"}
    assert endpoint_key("openai/m", {"api_base": "http://x"}) == {"api_base": "http://x"}
    unprefixed = endpoint_key("gpt-4o-mini", {})["env"]  # provider unknown: every provider's
    assert {"OPENAI_BASE_URL", "HOSTED_VLLM_API_BASE"} <= set(unprefixed)


def test_warnings_as_errors_do_not_break_a_check(loopback_llm, tmp_path, caplog):
    loopback_llm.script(B_WINS)
    judge = jg.guard(
        lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=_corrupt(tmp_path)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check = _check(judge)
    assert check.status == "consistent"
    assert "JUDGEGUARD_CACHE_DIR" in caplog.text  # said once, as a log record instead


async def test_a_key_that_cannot_be_built_means_an_uncached_check_not_a_failure(
    loopback_llm, tmp_path
):
    from judgeguard.pipeline import CheckRequest, CheckSettings, run_check

    class NoRepr:
        def __str__(self):
            return "a question"

        def __repr__(self):
            raise RuntimeError("no repr")

    loopback_llm.script(B_WINS)
    cache = DiskCache(tmp_path / "c")
    request = CheckRequest(jg.parse(verdict_text()), {"question": NoRepr()})
    check = await run_check(request, CheckSettings(metajudge=mj_for(loopback_llm), cache=cache))
    assert check.status == "consistent" and not cache.disabled and len(cache) == 0


# -- write-behind (the audit's batched writes) ---------------------------------------------
def _on_disk(cache, key):
    """The entry as a fresh handle on the same directory reads it (not the queue)."""
    return DiskCache(cache.directory).get_record(key)


def test_batched_writes_are_queued_visible_and_written_when_the_block_ends(tmp_path):
    cache = DiskCache(tmp_path / "c")
    with cache.batched():
        assert cache.put_record("k", "v") is True
        assert cache.get_record("k") == "v"  # lookups see the queue
        assert _on_disk(cache, "k") is None  # not written yet
    assert _on_disk(cache, "k") == "v"
    assert cache.hits == 1


def test_a_full_batch_is_written_in_one_go(tmp_path, monkeypatch):
    import judgeguard.cache as cache_mod

    monkeypatch.setattr(cache_mod, "BATCH_SIZE", 3)
    cache = DiskCache(tmp_path / "c")
    with cache.batched():
        cache.put_record("a", "1")
        cache.put_record("b", "2")
        assert _on_disk(cache, "a") is None
        cache.put_record("c", "3")  # the third fills the batch: written in one transaction
        assert [_on_disk(cache, k) for k in "abc"] == ["1", "2", "3"]
        cache.put_record("d", "4")
        assert _on_disk(cache, "d") is None
    assert _on_disk(cache, "d") == "4"


def test_an_old_queued_entry_is_written_on_the_next_write(tmp_path, monkeypatch):
    import judgeguard.cache as cache_mod

    monkeypatch.setattr(cache_mod, "BATCH_DELAY", 0.0)
    cache = DiskCache(tmp_path / "c")
    with cache.batched():
        cache.put_record("a", "1")
        assert _on_disk(cache, "a") == "1"


def test_the_queue_is_written_when_the_block_ends_by_an_exception(tmp_path):
    cache = DiskCache(tmp_path / "c")

    def interrupted() -> None:
        with cache.batched():
            cache.put_record("k", "v")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert _on_disk(cache, "k") == "v"


def test_a_batch_that_fails_to_write_disables_the_cache_once(tmp_path):
    cache = DiskCache(tmp_path / "c")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cache.batched():
            cache.put_record("k", "v")

            def broken(*args, **kwargs):
                raise sqlite3.OperationalError("database or disk is full")

            cache._store().set = broken
        assert cache.disabled and "disk is full" in (cache.disabled_reason or "")
        assert len(_cache_warnings(caught)) == 1
    assert cache.get_record("k") is None and cache.put_record("k", "w") is False


def test_endpoint_key_sees_every_change_of_the_environment(monkeypatch):
    """The endpoint variables are memoised per environment: a set, a change and an unset
    each show in the next key."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    assert "env" not in endpoint_key("openai/m", {})
    monkeypatch.setenv("OPENAI_BASE_URL", "http://one/v1")
    assert endpoint_key("openai/m", {})["env"] == {"OPENAI_BASE_URL": "http://one/v1"}
    os.environ["OPENAI_BASE_URL"] = "http://two/v1"
    assert endpoint_key("openai/m", {})["env"] == {"OPENAI_BASE_URL": "http://two/v1"}
    key = endpoint_key("openai/m", {})
    key["env"]["OPENAI_BASE_URL"] = "mutated by a caller"
    assert endpoint_key("openai/m", {})["env"] == {"OPENAI_BASE_URL": "http://two/v1"}
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert "env" not in endpoint_key("openai/m", {})


def test_batched_writes_keep_the_size_limit_and_the_newest_entries(tmp_path):
    # a batch is culled once, after its transaction, not per entry: the bound still holds
    limit = 256 * 1024
    cache = DiskCache(tmp_path / "c", size_limit=limit)
    value = "x" * 1000
    with cache.batched():
        for i in range(2000):
            cache.put_record(f"k{i}", f"{i}:{value}")
    store = cache._store()
    assert store.volume() <= limit
    assert 0 < len(cache) < 2000
    assert cache.get_record("k1999") == f"1999:{value}"  # the newest stay
    assert cache.get_record("k0") is None  # the oldest went first
    assert store.cull_limit == 10  # diskcache's per-set culling is back for plain writes


def test_batched_writes_drop_expired_entries(tmp_path):
    import time

    cache = DiskCache(tmp_path / "c", ttl=0.05)
    cache.put_record("old", "v")
    time.sleep(0.1)
    with cache.batched():
        cache.put_record("new", "v")
    assert cache.get_record("new") == "v"
    assert len(cache) == 1  # the expired entry was removed, not only hidden
