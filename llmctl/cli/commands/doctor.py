"""`llmctl doctor`: what is here, what is broken, and the exact fix, check by check."""

from __future__ import annotations

import typer

from llmctl.cli.options import JSON_OPTION


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    checks: list[str] = typer.Option(
        [], "--check", help="Run only this check (repeatable; `--list` names them)."
    ),
    list_checks: bool = typer.Option(False, "--list", help="Name every check and exit."),
    timeout: float = typer.Option(
        10.0, "--timeout", help="Seconds before a check that hangs is reported as failed."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Check Docker, ports, servers and config; print one table with the fix for each problem.

    Exit code 0 when nothing failed (warnings allowed), 1 when a check failed.
    """
    from llmctl import doctor as core
    from llmctl.cli.context import options
    from llmctl.cli.output import emit_json, out, table
    from llmctl.errors import UsageError

    if list_checks:
        if json_out:
            emit_json("doctor", {"checks": [{"name": c.name, "description": c.description}
                                            for c in core.CHECKS.values()]})
        else:
            table(["check", "description"],
                  [[c.name, c.description] for c in core.CHECKS.values()])
        return
    if not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    core.select(checks)  # an unknown name is a usage error before anything runs
    env = core.DoctorEnv(options.context, options.host)
    report = core.run_checks(checks, env, timeout=timeout,
                             check_timeout=min(timeout, core.CHECK_TIMEOUT))
    if json_out:
        emit_json("doctor", report)
    else:
        table(["check", "status", "found", "fix"],
              [[c.name, c.status.upper() if c.status in ("warn", "fail") else c.status,
                c.detail, c.fix or ""] for c in report.checks])
        n = report.counts()
        where = f"docker context {report.context} ({report.endpoint})" if report.context \
            else "docker: not resolved"
        out(f"\n{n['fail']} failed, {n['warn']} warnings, {n['ok']} ok, {n['skip']} skipped "
            f"in {report.elapsed:.1f} s; {where}")
    if not report.ok:
        raise typer.Exit(1)
