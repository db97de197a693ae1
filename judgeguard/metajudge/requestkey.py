"""What goes into a cache key for a MetaJudge request: options, endpoint, prompt digest.

The cache must never answer from an entry made by a different request. So the key holds
every litellm keyword argument the MetaJudge was given (``temperature``, ``stop``,
``extra_body``, ``response_format``, ``mock_response`` … and any option litellm adds
later), except the few listed in :data:`EXCLUDED_OPTIONS`, each with the reason it
cannot change the answer; the endpoint the call goes to, also when it comes from the
environment (:func:`endpoint_key`); and a digest of the exact messages sent
(:func:`messages_digest`). Values of options whose name says secret are hashed, never
kept in clear; credentials (``api_key`` …) are left out altogether.

Nothing here imports litellm: keys are computed on the cache's fast path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from judgeguard import env
from judgeguard.scrub import key_bytes, redact_secrets

__all__ = [
    "EXCLUDED_OPTIONS",
    "KEYED_OPTIONS",
    "classify_option",
    "endpoint_key",
    "messages_digest",
    "options_key",
]

_CREDENTIAL = "a credential: it decides who is billed, not what is answered (never in a key)"
_WAIT = "how long to wait or how often to retry: a call that fails is an error, never cached"
_OBSERVE = "observability and logging only (judgeguard passes its span here)"
_PRICE = "pricing: changes the reported cost, not the answer"
_LIMITS = "rate limits, budgets and load balancing: when a call runs, not what it answers"
_LITELLM_CACHE = "litellm's own response cache, not the request"
_CLIENT = "a connection object or transport setting: how bytes travel, not what is answered"
_PROVIDER_SIDE = "provider-side storage and caching hints; the answer is the same"
_SET_BY_JUDGEGUARD = (
    "set by judgeguard itself; the key holds the model and a digest of the messages"
)
_INTERNAL = "litellm bookkeeping, never set by a caller"

#: Options left out of cache keys, with the reason each cannot change the answer.
EXCLUDED_OPTIONS: dict[str, str] = {
    **dict.fromkeys(
        (
            "api_key",
            "azure_ad_token",
            "azure_ad_token_provider",
            "azure_password",
            "azure_username",
            "azure_scope",
            "client_id",
            "client_secret",
            "tenant_id",
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_profile_name",
            "aws_role_name",
            "aws_session_name",
            "aws_web_identity_token",
            "vertex_credentials",
            "litellm_credential_name",
            "chatgpt_auth_file",
            "configurable_clientside_auth_params",
            "secret_fields",
            "organization",
            "anthropic_organization_id",
            "github_copilot_user_session",
        ),
        _CREDENTIAL,
    ),
    **dict.fromkeys(
        (
            "timeout",
            "request_timeout",
            "stream_timeout",
            "force_timeout",
            "num_retries",
            "max_retries",
            "retry_policy",
            "retry_strategy",
            "client_side_timeout",
            "timeout_by_service_tier",
            "stream_timeout_by_service_tier",
            "mock_timeout",
            "transport",  # judgeguard's: how the request is sent (fast path or litellm)
        ),
        _WAIT,
    ),
    **dict.fromkeys(
        (
            "metadata",
            "litellm_metadata",
            "litellm_call_id",
            "litellm_logging_obj",
            "litellm_trace_id",
            "litellm_session_id",
            "litellm_request_debug",
            "logger_fn",
            "verbose",
            "no-log",
            "turn_off_message_logging",
            "litellm_disabled_callbacks",
            "litellm_trusted_callback_vars",
            "log_client_error_tracebacks",
            "tags",
            "bedrock_tags",
            "proxy_server_request",
            "completion_call_id",
            "id",
            "prompt_id",
            "prompt_label",
            "prompt_version",
            "prompt_environment",
        ),
        _OBSERVE,
    ),
    **dict.fromkeys(
        (
            "rpm",
            "tpm",
            "rpd",
            "tpd",
            "itpm",
            "otpm",
            "max_parallel_requests",
            "weight",
            "order",
            "cooldown_time",
            "max_budget",
            "budget_duration",
            "daily_reset_time",
            "default_api_key_rpm_limit",
            "default_api_key_tpm_limit",
            "routing_strategy",
            "_router_weights",
            "fastest_response",
        ),
        _LIMITS,
    ),
    **dict.fromkeys(
        ("cache", "caching", "cache_key", "preset_cache_key", "caching_groups", "ttl"),
        _LITELLM_CACHE,
    ),
    **dict.fromkeys(
        (
            "client",
            "shared_session",
            "use_client",
            "ssl_verify",
            "keepalive_seconds",
            "allow_client_keepalive_override",
            "stream_chunk_size",
            "async_call",
            "acompletion",
            "self",
        ),
        _CLIENT,
    ),
    **dict.fromkeys(
        ("store", "prompt_cache_key", "prompt_cache_retention", "enable_prompt_caching"),
        _PROVIDER_SIDE,
    ),
    **dict.fromkeys(("model", "messages"), _SET_BY_JUDGEGUARD),
    "user": "an end-user id for the provider's abuse monitoring, not a sampling option",
    "safety_identifier": "an end-user id for the provider's abuse monitoring",
}

#: Options that can change the answer (keyed). Every option not excluded is keyed, these
#: included; the list exists so that a test can tell a new litellm option from a known one.
KEYED_OPTIONS: frozenset[str] = frozenset(
    {
        # sampling and decoding
        "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
        "presence_penalty", "frequency_penalty", "logit_bias", "seed", "logprobs",
        "top_logprobs", "reasoning_effort", "verbosity", "thinking", "modalities",
        "prediction", "audio", "stream", "stream_options", "service_tier",
        # output format and tools
        "response_format", "enable_json_schema_validation", "tools", "tool_choice",
        "parallel_tool_calls", "functions", "function_call", "web_search_options",
        "include_server_side_tool_invocations", "merge_reasoning_content_in_choices",
        "thought_signature_in_tool_call_id",
        # where the request goes and which model answers it
        "api_base", "base_url", "api_version", "custom_llm_provider", "deployment_id",
        "region_name", "allowed_model_region", "data_residency", "model_list",
        "model_alias_map", "fallbacks", "max_fallbacks", "fallback_depth",
        "context_window_fallback_dict", "base_model", "hf_model_name", "azure",
        "use_chat_completions_api", "use_litellm_proxy", "responses_api_version",
        "text_completion", "model_info", "model_config", "silent_model",
        "github_copilot_host", "aws_bedrock_control_plane_endpoint", "s3_endpoint_url",
        "provider_affinity_header", "provider_specific_header",
        # the request body and headers
        "extra_body", "extra_headers", "headers", "default_headers", "guardrails",
        "mock_response", "mock_tool_calls", "complete_response", "allowed_openai_params",
        "drop_params", "additional_drop_params",
        # how messages become the prompt
        "roles", "initial_prompt_value", "final_prompt_value", "bos_token", "eos_token",
        "custom_prompt_dict", "supports_system_message", "ensure_alternating_roles",
        "user_continue_message", "assistant_continue_message", "litellm_system_prompt",
        "prompt_variables", "disable_add_transform_inline_image_block",
        "max_agentic_loops", "search_tool_name",
    }
)  # fmt: skip

# Families of litellm's many internal parameters, decided by name.
_FAMILIES: tuple[tuple[re.Pattern[str], bool, str], ...] = (
    (re.compile(r"cost|_price|pricing|uplift_multiplier|output_vector_size"), False, _PRICE),
    (
        re.compile(
            r"^(langfuse|langsmith|arize|dd|posthog|newrelic|signoz|gcs|wandb|humanloop|weave|"
            r"s3)_|_sampling_rate$|^kubernetes_"
        ),
        False,
        _OBSERVE,
    ),
    (
        re.compile(
            r"(api_key|secret|password|passwd|credential|identity|oauth|_auth|auth_|"
            r"service_account|federation|keycloak|token_exchange|_issuer|role_arn|"
            r"signing_key|session_token)"
        ),
        False,
        _CREDENTIAL,
    ),
    (re.compile(r"router"), True, "routing: decides which model answers"),
    (
        re.compile(
            r"^_|^(a(embedding|img_generation|llm_passthrough_route|text_completion)|"
            r"attempted_targets|use_in_pass_through|stream_response|max_file_size_mb|"
            r"model_file_id_mapping|tag_regex|enable_tag_filtering|rust|use_xai_oauth|"
            r"fireworks_forward_user_id)$"
        ),
        False,
        _INTERNAL,
    ),
)

_SECRET_NAME = re.compile(r"key|secret|token|password|passwd|auth|credential|signature")
_KEYED_TOKEN_NAMES = frozenset(
    {"max_tokens", "max_completion_tokens", "bos_token", "eos_token", "top_logprobs"}
)


def classify_option(name: str) -> tuple[bool, str | None]:
    """(is ``name`` keyed?, the reason or family that decided it; ``None``: unknown).

    Unknown options are keyed: a new litellm option can only cause a cache miss, never a
    stale hit.
    """
    if name in EXCLUDED_OPTIONS:
        return False, EXCLUDED_OPTIONS[name]
    if name in KEYED_OPTIONS:
        return True, "keyed"
    for pattern, keyed, reason in _FAMILIES:
        if pattern.search(name):
            return keyed, reason
    return True, None


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(key_bytes(_json(value))).hexdigest()


def _stable(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of an option value that is the same in every process."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 20:
        return repr(type(value))
    if isinstance(value, Mapping):
        return {str(k): _stable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_stable(v, depth + 1) for v in value]
        return sorted(items, key=_json) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, bytes):
        return "bytes:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, type):
        schema = getattr(value, "model_json_schema", None)  # a pydantic response_format
        if callable(schema):
            try:
                return {
                    "pydantic_model": value.__qualname__,
                    "schema": _stable(schema(), depth + 1),
                }
            except Exception:
                pass
        return f"type:{value.__module__}.{value.__qualname__}"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _stable(dump(mode="json"), depth + 1)
        except Exception:
            pass
    if callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"callable:{getattr(value, '__module__', '')}.{name}"
    # no repr(): it often holds a memory address, which would make every process miss
    return f"object:{type(value).__module__}.{type(value).__qualname__}"


def _json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr
    )


def options_key(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyed part of litellm keyword arguments (secret-named values hashed).

    Header values are hashed too (an ``Authorization`` header is a secret; a routing
    header still changes the key).
    """
    out: dict[str, Any] = {}
    for name in sorted(kwargs):
        keyed, _ = classify_option(name)
        if not keyed:
            continue
        value = _stable(kwargs[name])
        if name in ("headers", "extra_headers", "default_headers") and isinstance(value, dict):
            value = {str(k).lower(): _digest(v) for k, v in value.items()}
        elif _SECRET_NAME.search(name) and name not in _KEYED_TOKEN_NAMES:
            value = _digest(value)
        elif isinstance(value, str) and redact_secrets(value) != value:
            value = _digest(value)  # a URL with a password, say: keyed, never in clear
        out[name] = value
    return out


#: Environment variables that point a provider somewhere (litellm reads e.g.
#: ``OPENAI_BASE_URL``/``OPENAI_API_BASE``, ``AZURE_API_BASE``, ``HOSTED_VLLM_API_BASE``).
_ENDPOINT_ENV = re.compile(
    r"^[A-Z][A-Z0-9_]*_(API_BASE|BASE_URL|API_URL|API_HOST|ENDPOINT|ENDPOINT_URL|URL|"
    r"API_VERSION|REGION|REGION_NAME|LOCATION|PROJECT)$"
)
#: Provider prefixes whose environment variables carry another name.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI",),
    "text-completion-openai": ("OPENAI",),
    "azure": ("AZURE", "AZURE_OPENAI"),
    "azure_ai": ("AZURE_AI",),
    "vertex_ai": ("VERTEXAI", "VERTEX", "GOOGLE_CLOUD"),
    "vertex_ai_beta": ("VERTEXAI", "VERTEX", "GOOGLE_CLOUD"),
    "gemini": ("GEMINI", "GOOGLE"),
    "bedrock": ("AWS", "AWS_BEDROCK", "BEDROCK"),
    "sagemaker": ("AWS", "SAGEMAKER"),
    "watsonx": ("WATSONX", "WX", "WML"),
    "hosted_vllm": ("HOSTED_VLLM", "VLLM"),
    "litellm_proxy": ("LITELLM_PROXY",),
}
_LITELLM_GLOBALS = ("api_base", "api_version", "model_alias_map", "drop_params")


def _provider(model: str, kwargs: Mapping[str, Any]) -> str | None:
    provider = kwargs.get("custom_llm_provider")
    if isinstance(provider, str) and provider:
        return provider
    head, sep, _ = model.partition("/")
    return head if sep and re.fullmatch(r"[A-Za-z0-9_\-]+", head) else None


def endpoint_key(model: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Where a call for ``model`` with ``kwargs`` goes, as far as it can change the answer.

    An explicit ``api_base``/``base_url`` decides alone. Otherwise litellm falls back to
    its module settings (``litellm.api_base``) and to the provider's environment
    variables (``OPENAI_BASE_URL``, ``OPENAI_API_BASE``, ``AZURE_API_BASE``,
    ``AWS_REGION_NAME`` …): those of the model's provider prefix are included, or, for a
    model without a prefix, those of every provider (a spurious miss is cheap, a stale
    hit is not). URLs are kept without their credentials.
    """
    explicit = kwargs.get("api_base") or kwargs.get("base_url")
    if explicit:
        return {"api_base": redact_secrets(str(explicit))}
    out: dict[str, Any] = {}
    litellm = sys.modules.get("litellm")  # settings made in code exist only once imported
    if litellm is not None:
        for name in _LITELLM_GLOBALS:
            value = getattr(litellm, name, None)
            if value:
                out[f"litellm.{name}"] = redact_secrets(_json(_stable(value)))
    provider = _provider(model, kwargs)
    prefixes: tuple[str, ...] | None = None
    if provider is not None:
        base = re.sub(r"[^A-Z0-9]", "_", provider.upper())
        prefixes = (base, *_ENV_ALIASES.get(provider, ()))
    env = _endpoint_env(prefixes)
    if env:
        out["env"] = env
    return out


def _scan_env(prefixes: tuple[str, ...] | None) -> dict[str, str]:
    env = {}
    for name, value in os.environ.items():
        if not _ENDPOINT_ENV.match(name) or not value:
            continue
        if prefixes is not None and not any(name.startswith(p + "_") for p in prefixes):
            continue
        env[name] = redact_secrets(value)
    return dict(sorted(env.items()))


def _endpoint_env(prefixes: tuple[str, ...] | None) -> dict[str, str]:
    """The endpoint variables of ``prefixes`` (``None``: of every provider), redacted
    (every check's cache key reads them: remembered while the environment is unchanged)."""
    return dict(env.memoized(("endpoint_env", prefixes), lambda: _scan_env(prefixes)))


def messages_digest(messages: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the messages exactly as they would be sent (lone surrogates kept)."""
    return hashlib.sha256(key_bytes(_json([_stable(m) for m in messages]))).hexdigest()
