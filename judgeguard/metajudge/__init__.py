"""The MetaJudge stage: a second LLM that judges the judge's reasoning."""
