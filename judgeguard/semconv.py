"""Every attribute, event and metric name judgeguard records, as plain strings.

The OpenTelemetry Python semconv package marks all ``gen_ai.*`` constants deprecated
(the GenAI conventions moved to their own repository), so judgeguard keeps its own copy
here instead of importing them. ``gen_ai.*`` names follow the OpenTelemetry GenAI
semantic conventions 1.38 (status: Development); ``error.type`` is stable (1.21);
``openinference.*`` follows the OpenInference semantic conventions. ``judgeguard.*``
names are judgeguard's own.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# -- instrumentation scope -------------------------------------------------------------
#: Name of the tracer and the meter.
SCOPE_NAME: Final = "judgeguard"
#: Schema of the conventions used (GenAI evaluation event: semconv >= 1.38).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.38.0"

# -- general (semconv 1.21+, stable) ---------------------------------------------------
#: The class of error an operation ended with (a reason code for judgeguard's own errors).
ERROR_TYPE: Final = "error.type"
#: ``error.type`` value when nothing more specific is known.
ERROR_TYPE_OTHER: Final = "_OTHER"

# -- GenAI spans (semconv 1.37+: gen_ai.provider.name replaced gen_ai.system) -----------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
#: ``gen_ai.operation.name`` value for chat completions (also the span-name prefix).
GEN_AI_OPERATION_CHAT: Final = "chat"
#: ``gen_ai.provider.name`` value when the provider is not known (semconv ``_OTHER``).
GEN_AI_PROVIDER_OTHER: Final = "_OTHER"

# -- GenAI evaluation event (semconv 1.38, Development) --------------------------------
GEN_AI_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

#: ``gen_ai.evaluation.name`` of the support check (score: R_rationale).
EVALUATION_RATIONALE_CONSISTENCY: Final = "rationale_consistency"
#: ``gen_ai.evaluation.name`` of the gate (score: R_final = R_rationale × R_outcome).
EVALUATION_GATED_REWARD: Final = "gated_reward"
#: ``gen_ai.evaluation.name`` of the reference check (score: RC, the paper's recall).
EVALUATION_REFERENCE_CONSISTENCY: Final = "reference_consistency"

# -- OpenInference (span kinds; evaluator spans link to what they evaluate) -------------
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_SPAN_KIND_EVALUATOR: Final = "EVALUATOR"
#: The judge call: a step that wraps the judge's own LLM call(s).
OPENINFERENCE_SPAN_KIND_CHAIN: Final = "CHAIN"
#: Content (only with content capture), as Phoenix and other OpenInference readers show it.
INPUT_VALUE: Final = "input.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME_TYPE: Final = "output.mime_type"
#: Longest content value recorded on a span (characters); longer values are cut.
CONTENT_LIMIT: Final = 100_000

# -- judgeguard: the judge span ---------------------------------------------------------
JUDGEGUARD_VERDICT: Final = "judgeguard.verdict"  # rendered, e.g. "B>>A", "7", "pass"
JUDGEGUARD_VERDICT_KIND: Final = "judgeguard.verdict.kind"  # pairwise | score | label
JUDGEGUARD_FORMAT: Final = "judgeguard.format"  # the parser format that matched
JUDGEGUARD_R_OUTCOME: Final = "judgeguard.r_outcome"
JUDGEGUARD_PARSE_STATUS: Final = "judgeguard.parse.status"  # parsed | unparsed
JUDGEGUARD_RATIONALE: Final = "judgeguard.rationale"  # content: only when opted in

# -- judgeguard: the evaluator span -----------------------------------------------------
JUDGEGUARD_CHECK_STATUS: Final = "judgeguard.check.status"
JUDGEGUARD_CHECK_REASON: Final = "judgeguard.check.reason"
JUDGEGUARD_CHECK_CACHED: Final = "judgeguard.check.cached"
JUDGEGUARD_R_RATIONALE: Final = "judgeguard.r_rationale"
JUDGEGUARD_REWARD: Final = "judgeguard.reward"
JUDGEGUARD_NEEDS_REVIEW: Final = "judgeguard.needs_review"
JUDGEGUARD_CALIBRATED: Final = "judgeguard.calibrated"
JUDGEGUARD_SUPPORTED_VERDICT: Final = "judgeguard.supported_verdict"
JUDGEGUARD_AGREEMENT: Final = "judgeguard.agreement"  # ensemble agreement
JUDGEGUARD_METAJUDGE_MODEL: Final = "judgeguard.metajudge.model"
#: the judge being checked (the guarded function, an audit line's judge, an LLMJudge)
JUDGEGUARD_JUDGE_NAME: Final = "judgeguard.judge.name"
JUDGEGUARD_REFERENCE_RECALL: Final = "judgeguard.reference.recall"  # RC
JUDGEGUARD_REFERENCE_AP: Final = "judgeguard.reference.ap"
JUDGEGUARD_USAGE_COST_USD: Final = "judgeguard.usage.cost_usd"  # on CLIENT spans, when known

# -- judgeguard: metrics ----------------------------------------------------------------
JUDGEGUARD_CACHE_HIT: Final = "judgeguard.cache.hit"  # attribute of the lookups counter
JUDGEGUARD_SINK_NAME: Final = "judgeguard.sink.name"  # attribute of the sink counter
#: attribute of the sink counter: posted | dropped (queue full, closed) | failed (post refused)
#: | skipped (nothing to post to, e.g. no span id without tracing)
JUDGEGUARD_SINK_OUTCOME: Final = "judgeguard.sink.outcome"
METRIC_RATIONALE_REWARD: Final = "judgeguard.rationale_reward"  # histogram, R_rationale
METRIC_GATED_REWARD: Final = "judgeguard.gated_reward"  # histogram, R_final
METRIC_CHECKS: Final = "judgeguard.checks"  # counter, by judgeguard.check.status
METRIC_CHECK_DURATION: Final = "judgeguard.check.duration"  # histogram, seconds
METRIC_CACHE_LOOKUPS: Final = "judgeguard.cache.lookups"  # counter, by judgeguard.cache.hit
METRIC_CALLBACK_ERRORS: Final = "judgeguard.callback.errors"  # counter, on_result raised
METRIC_SINK_ITEMS: Final = "judgeguard.sink.items"  # counter, by sink name and outcome

# -- span names --------------------------------------------------------------------------
SPAN_JUDGE_PREFIX: Final = "judge"  # "judge {name}"
SPAN_EVALUATOR: Final = "evaluate rationale_consistency"

#: litellm provider prefix -> ``gen_ai.provider.name`` (semconv 1.37+ well-known values;
#: a prefix missing here is recorded as itself).
PROVIDER_NAMES: Final = MappingProxyType(
    {
        "openai": "openai",
        "text-completion-openai": "openai",
        "anthropic": "anthropic",
        "azure": "azure.ai.openai",
        "azure_text": "azure.ai.openai",
        "azure_ai": "azure.ai.inference",
        "bedrock": "aws.bedrock",
        "vertex_ai": "gcp.vertex_ai",
        "vertex_ai_beta": "gcp.vertex_ai",
        "gemini": "gcp.gemini",
        "groq": "groq",
        "mistral": "mistral_ai",
        "codestral": "mistral_ai",
        "cohere": "cohere",
        "cohere_chat": "cohere",
        "deepseek": "deepseek",
        "xai": "x_ai",
        "perplexity": "perplexity",
        "watsonx": "ibm.watsonx.ai",
        "watsonx_text": "ibm.watsonx.ai",
        "ollama": "ollama",
        "ollama_chat": "ollama",
    }
)

#: Values of ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` that opt in to content
#: (``true``/``1``, and the newer contrib values that capture content somewhere).
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
CAPTURE_CONTENT_ON: Final = frozenset({"true", "1", "span_only", "event_only", "span_and_event"})
