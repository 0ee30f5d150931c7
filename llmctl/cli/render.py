"""Human output of the targets' results (`up`, `up --dry-run`, `down`, `status`), shared by
the commands: each result type has its renderer here, so no command imports another.
``--json`` prints the same result objects (``up_document`` says which fields).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from llmctl.cli.output import out, table, to_jsonable
from llmctl.expose.proxy import ExposeResult, UnexposeResult
from llmctl.expose.status import ProxiesStatus, key_age_text
from llmctl.lifecycle import DownResult, DryRunResult, StatusEntry, UpResult
from llmctl.plan import BindMount
from llmctl.targets.model_runner.results import (
    RunnerDownResult,
    RunnerDryRun,
    RunnerStatus,
    RunnerUpResult,
)


def spec_yaml(doc: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip()


def backends_text(backends: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in sorted(backends.items()))


def mount_text(m: BindMount) -> str:
    return f"{m.source} -> {m.target} ({'read-only' if m.read_only else 'read-write'})"


# --- up ------------------------------------------------------------------------------------
@singledispatch
def up_document(result: Any) -> dict[str, Any]:
    """The ``result`` of `up --json`."""
    doc = to_jsonable(result)
    assert isinstance(doc, dict)
    return doc


@up_document.register
def _(result: UpResult) -> dict[str, Any]:
    return {k: v for k, v in vars(result).items() if k != "spec"}  # the spec: --dry-run's


@singledispatch
def up_result(result: Any) -> None:
    raise TypeError(f"no renderer for {type(result).__name__}")


@up_result.register
def _(result: UpResult) -> None:
    verb = {"created": "started", "reused": "already running", "started": "restarted",
            "recreated": "recreated"}.get(result.action, result.action)
    if result.ready and result.ready_seconds is not None:
        ready = f"ready in {result.ready_seconds:.1f} s"
    else:
        ready = "ready" if result.ready else "readiness not checked"
    out(f"{result.instance}: {verb} ({result.container}, {result.image}), {ready}")
    out(f"  endpoint (this machine):   {result.base_url}")
    out(f"  endpoint (containers):     {result.endpoint_container}"
        f"{'/v1' if result.api == 'openai' else ''}  (on docker network llmctl)")
    out(f"  api: {result.api}   volume: {', '.join(result.volumes) or '-'}   "
        f"gpus: {'yes' if result.gpus else 'no'}")
    for m in result.mounts:
        out(f"  host folder: {mount_text(m)}")
    if result.model:
        out(f"  model: {result.model}")


@up_result.register
def _(result: RunnerUpResult) -> None:
    if result.kind == "Docker Desktop":
        what = {"enabled": "enabled in Docker Desktop",
                "reused": "already on in Docker Desktop"}.get(result.action, result.action)
    else:
        verb = {"created": "started container", "installed": "installed container",
                "reused": "already running:", "started": "restarted container",
                "recreated": "recreated container"}.get(result.action, result.action)
        what = f"{verb} {result.container} ({result.image}) via {result.method}"
    ready = "not checked" if result.ready is None else \
        f"ready in {result.ready_seconds or 0:.1f} s"
    out(f"model-runner: {what}, {ready}")
    out(f"  endpoint (this machine):   {result.base_url}")
    out(f"  endpoint (containers):     {result.endpoint_container}")
    if result.backends:
        out(f"  backends: {backends_text(result.backends)}")
    if result.ready:
        out(f"  models: {len(result.models)}" + (f" ({', '.join(result.models[:5])})"
                                                  if result.models else ""))


# --- up --dry-run --------------------------------------------------------------------------
@singledispatch
def dry_run(planned: Any, name: str) -> None:
    raise TypeError(f"no renderer for {type(planned).__name__}")


@dry_run.register
def _(planned: DryRunResult, name: str) -> None:
    out(f"# llmctl up {name} --dry-run: the container that would run")
    out(spec_yaml(planned.spec.to_dict()))
    for line in _dry_run_lines(planned):
        out(f"# {line}")


def _dry_run_lines(planned: DryRunResult) -> list[str]:
    """The comment lines after the spec: host folders, what would be pulled, created or
    removed, and what happens to an existing container."""
    lines = [f"host folder {mount_text(m)}" for m in planned.spec.mounts]
    if not planned.engine_checked:
        lines.append("the engine was not reached: what would be pulled or created is unknown")
    else:
        name = planned.spec.name
        what = {
            "recreate": f"would recreate container {name} ({planned.reason})",
            "reuse": f"{name} already runs with this spec: nothing to do",
            "start": f"{name} exists with this spec, stopped: would start it",
            "refuse": f"would stop with an error: {planned.reason}",
        }.get(planned.container)  # "create": said by the "would create" line below
        if what:
            lines.append(what)
        for image in planned.would_pull:
            lines.append(f"would pull image {image} (not on this engine)")
        if planned.container in ("create", "recreate") and not planned.would_pull:
            lines.append(f"image {planned.spec.image} is on this engine: nothing to pull")
        if planned.would_remove:
            lines.append("would remove " + ", ".join(planned.would_remove))
        if planned.would_create:
            lines.append("would create " + ", ".join(planned.would_create))
    if planned.port_note:
        lines.append(f"note: {planned.port_note}")
    return lines


@dry_run.register
def _(planned: RunnerDryRun, name: str) -> None:
    out(f"# llmctl up {name} --dry-run: Docker Model Runner ({planned.kind})")
    if planned.spec is not None:
        out(spec_yaml(planned.spec.to_dict()))
    lines = [f"endpoint (this machine): {planned.base_url}"]
    lines.append({
        "create": f"would create the runner container ({planned.method})",
        "install": "would install the runner container with the `docker model` plugin",
        "enable": "would turn Model Runner on in Docker Desktop",
        "reuse": "the runner already answers on this port: nothing to do",
        "start": "the runner container exists, stopped: would start it",
        "recreate": f"would recreate the runner container ({planned.reason})",
        "refuse": f"would stop with an error: {planned.reason}",
    }.get(planned.container, "the engine was not reached: what would be done is unknown"))
    lines += [f"would run `{c}`" for c in planned.would_run]
    lines += [f"would pull image {i} (not on this engine)" for i in planned.would_pull]
    if planned.would_remove:
        lines.append("would remove " + ", ".join(planned.would_remove))
    if planned.would_create:
        lines.append("would create " + ", ".join(planned.would_create))
    for line in lines:
        out(f"# {line}")


# --- down ----------------------------------------------------------------------------------
@singledispatch
def down_result(result: Any, *, volumes: bool) -> None:
    raise TypeError(f"no renderer for {type(result).__name__}")


@down_result.register
def _(result: DownResult, *, volumes: bool) -> None:
    removed(result, volumes=volumes)


@down_result.register
def _(result: RunnerDownResult, *, volumes: bool) -> None:
    if result.action == "disabled":
        out("model-runner: disabled in Docker Desktop")
    else:
        removed(result, volumes=volumes)
    for note in result.notes:
        out(f"  {note}")


def removed(result: DownResult | RunnerDownResult, *, volumes: bool) -> None:
    """What was removed and kept (containers, volumes)."""
    for c in result.removed:
        out(f"removed container {c}")
    for v in result.volumes_removed:
        out(f"removed volume {v}")
    for v in result.volumes_kept:
        out(f"kept volume {v}" + ("" if volumes else " (remove with --volumes)"))


# --- status --------------------------------------------------------------------------------
def servers_table(entries: list[StatusEntry]) -> None:
    if not entries:
        out("no llmctl-managed servers (start one with `llmctl up ollama`)")
        return
    table(
        ["name", "profile", "state", "health", "endpoint", "image", "volume"],
        [[e.server.instance, e.server.profile, e.server.state, e.health,
          (e.server.base_url or "-") + (" (EXPOSED)" if e.server.exposed else ""),
          e.server.image, ", ".join(e.server.volumes) or "-"] for e in entries],
    )


def server_document(entry: StatusEntry) -> dict[str, Any]:
    return {**vars(entry.server), "base_url": entry.server.base_url, "health": entry.health,
            "health_detail": entry.detail}


@singledispatch
def status_section(status: Any) -> None:
    """A special target's part of `status` (nothing when its status is unknown)."""
    if status is not None:
        raise TypeError(f"no renderer for {type(status).__name__}")


@status_section.register
def _(status: RunnerStatus) -> None:
    state = "running" if status.running else ("not running" if status.installed
                                              else "not installed")
    where = ""
    if status.container:
        where = f", container {status.container}" + (" (llmctl)" if status.managed else "")
    out("")
    out(f"Docker Model Runner ({status.kind}): {state}{where}")
    if status.base_url:
        out(f"  endpoint (this machine):   {status.base_url}")
    if status.endpoint_container:
        out(f"  endpoint (containers):     {status.endpoint_container}")
    if status.backends:
        out(f"  backends: {backends_text(status.backends)}")
    if status.models is not None:
        out(f"  models: {status.models}")
    for note in status.notes:
        out(f"  note: {note}")
    if status.problem:
        out(f"  problem: {status.problem}")
    if status.fix:
        out(f"  fix: {status.fix}")


@status_section.register
def _(status: ProxiesStatus) -> None:
    if not status.proxies:
        return
    out("")
    out("Exposed through llmctl's authenticating proxy (`llmctl expose`):")
    table(
        ["name", "proxy", "listen", "tls", "key age", "state", "health", "server"],
        [[p.instance, p.proxy, (p.listen or "-") + (" (EXPOSED)" if p.exposed else ""), p.tls,
          key_age_text(p.key_age_s), p.state,
          p.health + (f" ({p.detail})" if p.detail and p.health != "ok" else ""),
          p.upstream + ("" if p.upstream_state == "running" else f" ({p.upstream_state})")]
         for p in status.proxies],
    )


# --- expose --------------------------------------------------------------------------------
def expose_result(result: ExposeResult) -> None:
    verb = {"created": "exposed", "reused": "already exposed", "started": "proxy restarted",
            "recreated": "proxy replaced, key kept",
            "rotated": "key rotated, proxy replaced"}.get(result.action, result.action)
    ready = (f"answers in {result.ready_seconds:.1f} s" if result.ready_seconds is not None
             else "not checked from here")
    out(f"{result.instance}: {verb} ({result.proxy}, {result.image}), {ready}")
    out(f"  endpoint (this machine):   {result.url}")
    out(f"  endpoint (containers):     {result.endpoint_container}  (on docker network llmctl)")
    where = "beyond loopback" if result.exposed else "loopback only"
    out(f"  listen: {result.listen} ({where})   tls: {result.tls}   "
        f"key made: {result.key_created}")
    out("  auth: Authorization: Bearer KEY (anything else: 401, the server sees nothing)")
    if result.ca_file:
        out(f"  ca: {result.ca_file}")
    if result.endpoint:
        out(f"  wrote endpoint {result.endpoint!r} (default) to {result.endpoints_file}: "
            f"model {result.model}, with the key (0600; never printed)")
        out(f"  for another machine: `llmctl endpoint show {result.endpoint} --output FILE` "
            "writes it with the key" + (", and copy the ca file" if result.ca_file else ""))


def unexpose_result(result: UnexposeResult) -> None:
    for c in result.removed:
        out(f"removed container {c}")
    for v in result.volumes_removed:
        out(f"removed volume {v}")
    for v in result.volumes_kept:
        out(f"kept volume {v} (the proxy's CA; remove with --volumes)")
    if result.endpoint_removed:
        out(f"removed endpoint {result.endpoint_removed!r}"
            + (f"; the default is {result.default!r} again" if result.default else ""))
    if result.ca_removed:
        out(f"removed {result.ca_removed}")
