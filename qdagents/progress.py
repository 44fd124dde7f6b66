"""What a person sees while a run goes: one live status line on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time


def _fmt_budget(done, limit) -> str:
    return f"{done}" if limit is None else f"{done}/{limit}"


def _fmt_usd(spent: float, limit: float | None) -> str:
    """``$0.0123``, or ``$1.20/$5.00`` against a USD budget: a user who capped a run in dollars
    sees how much of the cap is gone (cents are enough beside a cap; a run without one may cost
    fractions of a cent, hence four decimals)."""
    digits = 2 if limit is not None and (spent == 0 or spent >= 0.01) else 4
    return f"${spent:.{digits}f}" + ("" if limit is None else f"/${limit:.2f}")


class Progress:
    """Reports evaluations against budget, best fitness, coverage, elites, tokens, USD, failures.

    Args:
        mode: ``live`` (rewrite one line), ``log`` (a line every ``every`` evaluations and at the
            end), ``quiet``, or ``auto`` (live on a terminal, log otherwise).
        budget: The run's budget dict (for "done/limit", and "$spent/$limit" with ``usd``).
        stream: Where to write (stderr by default, so ``--json`` output stays clean).
    """

    def __init__(self, *, mode: str = "auto", budget: dict | None = None, stream=None,
                 every: int = 5):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "live" if getattr(self.stream, "isatty", lambda: False)() else "log"
        self.mode = mode
        self.budget = budget or {}
        self.every = every
        self.start = time.monotonic()
        self._last_len = 0

    def line(self, s: dict) -> str:
        best = "-" if s.get("best") is None else f"{s['best']:.3f}"
        return (f"evals {_fmt_budget(s['evaluated'], self.budget.get('evaluations'))}"
                f" | best {best} | elites {s['elites']} | coverage {s['coverage']:.1%}"
                f" | tokens {_fmt_budget(s['tokens'], self.budget.get('tokens'))}"
                f" | {_fmt_usd(s['cost_usd'], self.budget.get('usd'))} | failures {s['failures']}"
                f" | {time.monotonic() - self.start:.0f}s")

    def update(self, s: dict, *, final: bool = False) -> None:
        if self.mode == "quiet":
            return
        text = self.line(s)
        if self.mode == "live":
            pad = max(0, self._last_len - len(text))
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self._last_len = len(text)
        elif final or s["evaluated"] % self.every == 0 or s["evaluated"] <= 1:
            self.stream.write(f"[qdagents] {text}\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "live" and self._last_len:
            self.stream.write("\n")
            self._last_len = 0
        self.stream.write(f"[qdagents] {text}\n")
        self.stream.flush()
