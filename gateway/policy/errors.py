"""Why a policy set cannot be used: every problem names its file, line and rule.

A broken policy set is never partly applied (the previous set stays in force, or the
server refuses to start), so the loader collects *all* problems it can find in one pass
and reports them together: an operator fixing a file sees every mistake at once, in the
``file:line rule: message`` form compilers and linters use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason a policy file cannot be loaded."""

    file: str                    # the policy file, as found in the policy directory
    message: str                 # what is wrong and, where it helps, how to fix it
    line: int | None = None      # 1-based line in the file, when it can be located
    rule: str | None = None      # id of the [[rule]]/[[set]]/[[route]] concerned, if any

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.rule}: {self.message}" if self.rule else f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "rule": self.rule,
                "message": self.message}


class PolicyError(Exception):
    """The policy set is unusable; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid policy set")

    def to_dict(self) -> dict:
        return {"problems": [p.to_dict() for p in self.problems]}
