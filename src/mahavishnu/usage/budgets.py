"""``usage.budgets`` (``usage.yaml``): what was spent today or this month, overall or with one
provider, against the user's budgets. ``doctor`` and ``health`` say, one line per budget, which
are passed (spent more than the budget), with the spend and the period.

The spend is ``mahavishnu usage``'s cost of the local day or month so far: priced requests only (an
unpriced request costs nothing here, as in the report). A provider is named as
``usage --by provider`` names it: the profile switched to, or the stock provider (``anthropic``…).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mahavishnu.usage.records import TOOLS
from mahavishnu.usage.settings import Budget, UsageSettings


@dataclass(frozen=True)
class Spend:
    """One budget, what was spent in its period so far, and that period (a day or a month)."""

    budget: Budget
    spent: float
    period: str  # 2026-11-23, or 2026-11
    unseen: bool = False  # its provider made no request this month (maybe a misspelt name)

    @property
    def passed(self) -> bool:
        return self.spent > self.budget.usd

    @property
    def key(self) -> str:
        """What ``doctor`` and ``health`` call it: ``budget:day``, ``budget:month:zai``."""
        return f"budget:{self.budget.period}" + (f":{self.budget.provider}" if self.budget.provider else "")

    @property
    def name(self) -> str:
        """The budget as usage.yaml sets it: ``daily budget for zai (USD 5.00)``."""
        every = "daily" if self.budget.period == "day" else "monthly"
        who = f" for {self.budget.provider}" if self.budget.provider else ""
        return f"{every} budget{who} (USD {self.budget.usd:.2f})"

    def line(self) -> str:
        """One line: the budget, the spend and the period."""
        verdict = "passed" if self.passed else "within"
        said = f"{self.name} {verdict}: USD {self.spent:.2f} spent on {self.period}"
        if self.unseen:  # a budget that can never pass says why
            said += f" (no request of {self.budget.provider} this month: `mahavishnu usage --by provider`"
            said += " names the providers)"
        return said


def spends(own: UsageSettings | None = None, today: date | None = None) -> list[Spend]:
    """Each budget of ``usage.yaml`` with what was spent in its day or month (none: no budget, and
    no log is read)."""
    from mahavishnu.usage import settings
    from mahavishnu.usage.report import report

    own = own if own is not None else settings.load()
    if not own.budgets:
        return []
    today = today or date.today()
    day, month = today.isoformat(), today.isoformat()[:7]
    built = report("daily", "provider", TOOLS, since=today.replace(day=1), until=today)
    found = []
    for budget in own.budgets:
        lines = [line for line in built.lines if budget.provider is None or line.group == budget.provider]
        unseen = budget.provider is not None and not lines
        if budget.period == "day":
            found.append(Spend(budget, sum(line.cost for line in lines if line.period == day), day, unseen))
        else:
            found.append(Spend(budget, sum(line.cost for line in lines), month, unseen))
    return found
