"""What a check returns: :class:`CheckResult` (``ok | warn | fail | skip``), the
:class:`Finding` parts a check with several things to say puts together with
:func:`combine`, and the :class:`Report` of a whole run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str  # what was found
    fix: str | None = None  # the exact command or setting that fixes it
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "data": self.data,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def ok(detail: str, **data: Any) -> CheckResult:
    return CheckResult("", "ok", detail, None, data)


def warn(detail: str, fix: str | None, **data: Any) -> CheckResult:
    return CheckResult("", "warn", detail, fix, data)


def fail(detail: str, fix: str | None, **data: Any) -> CheckResult:
    return CheckResult("", "fail", detail, fix, data)


def skip(detail: str, fix: str | None = None, **data: Any) -> CheckResult:
    return CheckResult("", "skip", detail, fix, data)


class SkipCheck(Exception):
    """Raised inside a check when what it needs is not there: the check is skipped."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class Finding:
    """One thing a check found; a check with several reports the worst of them."""

    status: str
    text: str
    fix: str | None = None


def combine(findings: Sequence[Finding], **data: Any) -> CheckResult:
    order = {"fail": 3, "warn": 2, "ok": 1, "skip": 0}
    worst = max((f.status for f in findings), key=lambda s: order[s], default="ok")
    fixes: list[str] = []
    for f in findings:
        if f.fix and f.status == worst and f.fix not in fixes:
            fixes.append(f.fix)
    detail = "; ".join(f.text for f in findings)
    if findings:  # each finding with its own fix, for --json readers
        data = {**data, "findings": [{"status": f.status, "text": f.text, "fix": f.fix}
                                     for f in findings]}
    return CheckResult("", worst, detail, " ".join(fixes) or None, data)


@dataclass
class Report:
    checks: list[CheckResult]
    elapsed: float
    context: str | None = None
    endpoint: str | None = None

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.counts(),
            "docker": {"context": self.context, "endpoint": self.endpoint},
            "elapsed": round(self.elapsed, 3),
            "checks": [c.to_dict() for c in self.checks],
        }

