"""Tokens and USD by model and by purpose, from a run's ``llm_calls``: what ``summary --json``
reports, so a user sees what each model cost and what agents, emitters and embeddings used.

:func:`summarize_calls` is pure (rows in, totals out); :func:`llm_usage` reads the rows with one
aggregate query through the database's public ``execute``.
"""

from __future__ import annotations

from qdagents.llm._faults import FATAL, PROVIDER, fault_of_error

#: The columns :func:`summarize_calls` reads from each row.
USAGE_SQL = ("SELECT purpose, model, COUNT(*) AS calls,"
             " COALESCE(SUM(cached = 0 AND error IS NULL), 0) AS provider_answers,"
             " COALESCE(SUM(cached != 0), 0) AS cache_hits,"
             " COALESCE(SUM(error IS NOT NULL), 0) AS errors,"
             " COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,"
             " COALESCE(SUM(completion_tokens), 0) AS completion_tokens,"
             " COALESCE(SUM(cost_usd), 0) AS cost_usd"
             " FROM llm_calls GROUP BY purpose, model ORDER BY purpose, model")
#: Error rows counted per model and kind, the kind being what precedes the first colon of the
#: error text (``"<type> (<fault>)"``, see :func:`fault_of_error`): a run has few kinds of error
#: but may have many error rows, so they are counted in SQL, not read one by one.
ERROR_KINDS_SQL = (
    "SELECT model, CASE WHEN instr(error, ':') > 0 THEN substr(error, 1, instr(error, ':') - 1)"
    " ELSE error END AS kind, COUNT(*) AS n FROM llm_calls WHERE error IS NOT NULL"
    " GROUP BY model, kind")
#: The fault classes that are the provider's doing, not the agent's or the run budget's.
PROVIDER_FAULTS = (PROVIDER, FATAL)
_FIELDS = ("calls", "provider_answers", "cache_hits", "errors", "prompt_tokens",
           "completion_tokens", "cost_usd")


def summarize_calls(groups: list[dict], errors: list[str | None] = ()) -> dict:
    """Totals by model and by purpose from rows grouped by ``(purpose, model)`` (the columns of
    :data:`USAGE_SQL`), and the error rows counted by fault class.

    Returns ``{"by_model": {model: totals}, "by_purpose": {purpose: totals}, "faults":
    {class: count}}`` where totals are ``calls, provider_answers, cache_hits, errors,
    prompt_tokens, completion_tokens, tokens, cost_usd`` (``cost_usd``: money spent; answers
    from recordings cost 0).
    """
    by_model: dict[str, dict] = {}
    by_purpose: dict[str, dict] = {}
    for group in groups:
        for table, key in ((by_model, group["model"] or "?"),
                           (by_purpose, group["purpose"] or "?")):
            totals = table.setdefault(key, dict.fromkeys(_FIELDS, 0))
            for name in _FIELDS:
                totals[name] += group[name] or 0
    for table in (by_model, by_purpose):
        for totals in table.values():
            totals["tokens"] = totals["prompt_tokens"] + totals["completion_tokens"]
            totals["cost_usd"] = float(totals["cost_usd"])
    faults: dict[str, int] = {}
    for error in errors:
        fault = fault_of_error(error)
        if fault:
            faults[fault] = faults.get(fault, 0) + 1
    return {"by_model": by_model, "by_purpose": by_purpose, "faults": faults}


def llm_usage(db) -> dict:
    """:func:`summarize_calls` of a run database (``qdagents.store.RunDatabase``, or anything
    whose ``execute(sql)`` returns mapping rows, such as a ``sqlite3`` connection with
    ``row_factory = sqlite3.Row``), from two GROUP BY queries (a 10^4-agent run's summary must
    not read every call), plus ``provider_faults``: the error rows of class ``provider`` or
    ``fatal`` (rate limits past the retries, 5xx, timeouts, an unreachable or unusable
    provider), in total and per model."""
    usage = summarize_calls([dict(row) for row in db.execute(USAGE_SQL)])
    for totals in usage["by_model"].values():
        totals["provider_faults"] = 0
    for model, kind, count in db.execute(ERROR_KINDS_SQL):
        fault = fault_of_error(f"{kind}: ")
        usage["faults"][fault] = usage["faults"].get(fault, 0) + count
        if fault in PROVIDER_FAULTS:
            usage["by_model"][model or "?"]["provider_faults"] += count
    usage["provider_faults"] = sum(usage["faults"].get(f, 0) for f in PROVIDER_FAULTS)
    return usage
