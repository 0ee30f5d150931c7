"""The Docker side: the docker CLI (`docker-cli`), the daemon through the resolved context
(`daemon`), and what kind of engine it is (`engine`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packaging.version import Version

from llmctl.doctor.checks.common import (
    DESKTOP_MODEL_RUNNER_MIN,
    first_line,
    older_than,
    version_of,
)
from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, fail, ok, warn
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.engine.connect import DaemonTarget

MIN_API_VERSION = Version("1.41")  # Docker 20.10


@check("docker-cli", "the docker CLI is on PATH, and its version")
def check_docker_cli(env: DoctorEnv) -> CheckResult:
    path = env.docker_cli()
    if not path:
        return warn(
            "the docker CLI is not on PATH (llmctl reaches the daemon without it, but "
            "`docker model` and `docker desktop` need it)",
            "Install the docker CLI: Docker Desktop, or the docker-ce-cli (Docker's "
            "repository) / docker.io (Debian, Ubuntu) package.",
        )
    result = env.run_cli([path, "--version"])
    if result.returncode != 0:
        return warn(f"`{path} --version` failed (exit {result.returncode}): "
                    f"{first_line(result.stderr or result.stdout)}",
                    "Reinstall the docker CLI.", path=path)
    text = first_line(result.stdout)
    m = re.search(r"version\s+([0-9][^\s,]*)", text)
    return ok(f"{path}: {text}", path=path, version=m.group(1) if m else None)


@check("daemon", "the Docker daemon answers through the resolved context; API version")
def check_daemon(env: DoctorEnv) -> CheckResult:
    try:
        target = env.target()
    except LlmctlError as exc:
        return fail(exc.message, exc.hint)
    where = f"context {target.context} ({target.source}), endpoint {target.host}"
    data = {"context": target.context, "source": target.source, "endpoint": target.host}
    try:
        env.engine()
        facts = env.facts()
    except LlmctlError as exc:
        return _daemon_failure(target, exc, where, data, env.daemon_timeout)
    data.update(server_version=facts.version, api_version=facts.api_version)
    found = f"{where}; {facts.kind} {facts.version}, API {facts.api_version}"
    if facts.api_version and older_than(facts.api_version, MIN_API_VERSION):
        return warn(found + f" (older than API {MIN_API_VERSION}, "
                    "Docker 20.10)", "Upgrade the Docker engine to 20.10 or newer.", **data)
    return ok(found, **data)


def _daemon_failure(target: DaemonTarget, exc: LlmctlError, where: str,
                    data: dict[str, Any], timeout: float) -> CheckResult:
    """The engine layer's classified error, made plainer for a TCP address that refuses."""
    chain = f"{exc.message} {exc.__cause__ or ''} {getattr(exc.__cause__, '__context__', '')}"
    scheme = urlsplit(target.host).scheme
    via = {"DOCKER_HOST": "DOCKER_HOST", "--host": "--host"}.get(target.source,
                                                                 f"context {target.context}")
    if scheme in ("tcp", "http", "https") and re.search(
            r"refused|errno 111|errno 61|NewConnectionError", chain, re.IGNORECASE):
        return fail(
            f"nothing listens at {target.host} (connection refused; from {via}): the Docker "
            "daemon is not reachable",
            "Start the daemon there, or point at a running one: fix or `unset DOCKER_HOST`, "
            "or choose a context (`docker context ls`, `docker context use NAME`).", **data)
    if re.search(r"did not answer within", exc.message):
        return fail(f"the Docker daemon at {target.host} (from {via}) did not answer within "
                    f"{timeout:g} s",
                    "Check that the daemon there is healthy (`docker info` hangs too?) and the "
                    "address is right (`docker context ls`, DOCKER_HOST).", **data)
    detail = exc.message if target.host in exc.message else f"{exc.message} [{where}]"
    return fail(detail, exc.hint, **data)


@check("engine", "engine kind: Docker Desktop (4.40+ for Model Runner), Engine, Podman, ...")
def check_engine(env: DoctorEnv) -> CheckResult:
    env.require_engine()
    facts = env.facts()
    target = env.target()
    kind = env.kind()
    data: dict[str, Any] = {"kind": kind, "version": facts.version, "rootless": facts.rootless,
                            "remote": not target.is_local}
    notes: list[str] = []
    if facts.rootless:
        notes.append("rootless")
    if not target.is_local:
        notes.append(f"remote: published ports are on {target.address_host}, not this machine")
    found = kind + (f" {facts.desktop_version}" if facts.desktop_version else
                    f" {facts.version}" if facts.version else "")
    if kind == "Docker Desktop for Linux":
        notes.append("Model Runner treats it as Docker Engine")
    if kind == "Podman":
        notes.append("Docker API compatibility; Docker Model Runner is not available")
    if kind in ("Colima", "OrbStack", "Rancher Desktop"):
        notes.append("containers run in a Linux VM")
    detail = found + (f" ({'; '.join(notes)})" if notes else "")
    if facts.kind == "Docker Desktop":
        version = version_of(facts.desktop_version)
        data["desktop_version"] = facts.desktop_version
        if version is None:
            return warn(detail + "; its version is unknown (Platform.Name does not say)",
                        "Check `docker version` (Server: Docker Desktop X.Y.Z); Model Runner "
                        "needs 4.40 or newer.", **data)
        if version < DESKTOP_MODEL_RUNNER_MIN:
            return warn(
                detail + "; Docker Model Runner needs Docker Desktop 4.40 or newer",
                f"Update Docker Desktop to 4.40 or newer (you have {facts.desktop_version}): "
                "Docker menu > Check for updates.", **data)
    return ok(detail, **data)


