"""`up`, `down` and `status`: the core behind the commands, on typed values only.

``up`` is idempotent and race-safe: a matching container is reused, a stopped one started,
a different spec is a ConflictError unless ``recreate``; when two runs create the same name
at once the loser (HTTP 409) reuses the winner's container.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmctl.errors import ConflictError, Interrupted, LlmctlError, NotFoundError, UsageError
from llmctl.inputs import host_inputs, prepare_options
from llmctl.managed import ManagedServer, endpoint_host, list_servers, server_from
from llmctl.plan import (
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_PROFILE,
    LABEL_SECRETS,
    LABEL_SPEC_HASH,
    BindMount,
    ContainerSpec,
    UpOptions,
    check_instance,
    container_name,
    parse_secrets_label,
    pin_image,
    plan_container,
    secrets_changed,
)
from llmctl.ports import PortHolder, next_free, port_free, process_holding, who_holds
from llmctl.profiles import Profile, Readiness
from llmctl.progress import ProgressSink, null_sink
from llmctl.readiness import WaitStatus, check_once, ended_error, wait_ready, warm_up

if TYPE_CHECKING:
    from llmctl.backends.identify import Answer
    from llmctl.engine.model import ContainerInfo, Engine

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class UpResult:
    action: str  # created | reused | started | recreated | planned
    instance: str
    profile: str
    container: str
    image: str
    api: str
    bind: str
    host_port: int
    exposed: bool
    endpoint: str
    endpoint_container: str
    base_url: str
    volumes: list[str]
    gpus: bool
    ready: bool | None  # None: not checked (--no-wait, or not reachable from here)
    ready_seconds: float | None = None
    port_note: str | None = None
    notes: list[str] = field(default_factory=list)
    spec: ContainerSpec | None = None
    model: str | None = None  # the model id /v1/models lists (OpenAI-kind servers)
    # Host folders mounted into the container (--volume PATH read-write, --model-file
    # read-only): said in the output, so nothing reaches the host unnoticed.
    mounts: list[BindMount] = field(default_factory=list)

    def endpoint_for_config(self) -> tuple[str, str | None, str] | None:
        """What `up --write-endpoint` saves: this server, its model if it has one, and what
        is done already (for the message when the endpoint cannot be written)."""
        return self.endpoint, self.model or None, f"{self.instance} is up at {self.base_url}"


@dataclass
class UpPlan:
    """What `up` would apply, before anything changes."""

    spec: ContainerSpec
    existing: ContainerInfo | None
    port_note: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class DryRunResult:
    """`up --dry-run`: the spec, and what a real `up` would do with this engine. Nothing
    is pulled, created or changed to find it out."""

    spec: ContainerSpec
    port_note: str | None
    engine_checked: bool  # False: planned without an engine (daemon down)
    container: str  # create | reuse | start | recreate | refuse | unknown
    reason: str | None = None  # why refuse/recreate
    would_pull: list[str] = field(default_factory=list)
    would_create: list[str] = field(default_factory=list)
    would_remove: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = True


@dataclass
class DownResult:
    removed: list[str]
    volumes_removed: list[str]
    volumes_kept: list[str]


@dataclass
class StatusEntry:
    server: ManagedServer
    health: str  # ok | down | stopped | unknown (not reachable from here)
    detail: str


def exposure_warning(bind: str, port: int, profile: Profile) -> str:
    what = "Ollama has no authentication" if profile.kind == "ollama" else \
        f"the {profile.name} server is unauthenticated by default"
    return (
        f"publishing on {bind}:{port} exposes the server to the network: {what}, and ports "
        "published by Docker bypass host firewalls (UFW, firewalld). To reach it from other "
        "machines with a key instead, keep it on 127.0.0.1 and run `llmctl expose NAME`."
    )


def _holder(engine: Engine, port: int, bind: str) -> PortHolder:
    return who_holds(
        port, published=engine.published_ports(),
        process=process_holding if engine.target.is_local else None,
        identify=lambda p: _who_answers(bind, p),
    )


def _who_answers(bind: str, port: int) -> Answer | None:
    """Ollama (its GET / answering 200), or None: nothing more is told apart here."""
    from llmctl.backends.identify import identify

    host = "127.0.0.1" if bind in ("0.0.0.0", "127.0.0.1") else endpoint_host(bind, "127.0.0.1")
    answer = identify(f"http://{host}:{port}", 1.0)
    return answer if answer.kind == "ollama" and answer.status == 200 else None


def _holder_kind(holder: PortHolder) -> str:
    """llmctl | container | process | unknown (the ``holder_kind`` of a port conflict)."""
    if holder.container is not None:
        return "llmctl" if holder.kind == "llmctl" else "container"
    return "process" if holder.process else "unknown"


def _describe(holder: PortHolder) -> str:
    c = holder.container
    if c is not None:
        if holder.kind == "llmctl":
            return f"llmctl's container {c.name} (instance {holder.instance})"
        return f"container {c.name} ({c.image})"
    what = ", an Ollama server (likely installed on the host)" \
        if holder.kind == "host-ollama" else ""
    if holder.process:
        return f"host process {holder.process}{what}"
    return f"another program on this host{what}"


def down_command(profile: str | None, instance: str | None) -> str:
    """The command that removes one container instance: `llmctl down PROFILE --name NAME`
    (:func:`llmctl.targets.down_command` words it for every target)."""
    return " ".join(p for p in ("llmctl down", profile,
                                f"--name {instance}" if instance else None) if p)


StopCommand = Callable[[str | None, str | None], str]


def port_conflict(engine: Engine, port: int, bind: str, *, explicit: bool,
                  stop_command: StopCommand = down_command) -> ConflictError:
    """The port is taken: by what, the next free one, and how to free it (one of llmctl's
    own is stopped with ``stop_command(profile, instance)``)."""
    holder = _holder(engine, port, bind)
    kind, description = _holder_kind(holder), _describe(holder)
    taken = [p.host_port for _, p in engine.published_ports()]
    free = next_free(port + 1, bind, taken)
    hint = f"Use a free port, e.g. --port {free}." if free else "Free the port or pick another."
    if kind == "container" and holder.container is not None:
        hint += f" Or stop that container (`docker stop {holder.container.name}`)."
    elif kind == "llmctl":
        hint += f" Or stop it with `{stop_command(holder.profile, holder.instance)}`."
    return ConflictError(
        f"port {port} on {bind} is taken by {description}",
        hint,
        details={"port": port, "holder": description, "holder_kind": kind,
                 "suggested_port": free, "explicit": explicit},
    )


def _choose_port(
    engine: Engine, profile: Profile, opts: UpOptions, existing: ContainerInfo | None,
    stop_command: StopCommand,
) -> tuple[int, str | None]:
    if opts.port is not None:
        return opts.port, None
    if existing is not None:
        for p in existing.ports:
            if p.container_port == profile.container_port:
                return p.host_port, None
    default = profile.host_port
    if port_free(default, opts.bind):
        return default, None
    holder = _holder(engine, default, opts.bind)
    taken = [p.host_port for _, p in engine.published_ports()]
    free = next_free(default + 1, opts.bind, taken)
    if free is None:
        raise port_conflict(engine, default, opts.bind, explicit=False,
                            stop_command=stop_command)
    return free, f"port {default} is taken by {_describe(holder)}; using {free}"


def _changes(existing: ContainerInfo, spec: ContainerSpec) -> str:
    diffs = []
    if existing.image != spec.image:
        diffs.append(f"image {existing.image} -> {spec.image}")
    ports = {(p.host_ip, p.host_port) for p in existing.ports}
    if ports and (spec.bind, spec.host_port) not in ports:
        old = ", ".join(f"{ip}:{port}" for ip, port in sorted(ports))
        diffs.append(f"port {old} -> {spec.bind}:{spec.host_port}")
    if set(existing.volumes) != {v.name for v in spec.volumes}:
        diffs.append("volumes")
    return ", ".join(diffs) or "environment, GPU or command"


def _adopt_twin(engine: Engine, spec: ContainerSpec, *, after_409: bool = False) -> bool:
    """True when a container with our name and the same spec exists now (a concurrent `up`
    won the race): it is started if needed and reused instead of failing."""
    theirs = engine.get(spec.name)
    for _ in range(50 if after_409 else 0):
        # The daemon reserves the name before the winner's create returns: the container
        # can answer 404 for a moment after our 409.
        if theirs is not None:
            break
        time.sleep(0.1)
        theirs = engine.get(spec.name)
    if theirs is None or theirs.labels.get(LABEL_SPEC_HASH) != spec.labels[LABEL_SPEC_HASH]:
        return False
    if not theirs.running:
        with contextlib.suppress(LlmctlError):
            engine.start(spec.name)
    return True


def plan_up(
    engine: Engine | None, profile: Profile, opts: UpOptions, *, dry_run: bool = False,
    stop_command: StopCommand = down_command,
) -> UpPlan:
    """The spec `up` would apply, with the existing container and a note on the port.
    Reads the engine, never changes it. For a dry run an engine without the GPU the
    profile needs is a warning, not an error: the plan may be for another machine."""
    daemon = engine.target if engine else None
    opts, warnings = prepare_options(profile, opts, daemon)
    instance = check_instance(opts, profile)
    existing = engine.get(container_name(instance)) if engine else None
    gpu: bool | None
    if engine is None:
        port, note = opts.port or profile.host_port, None
        gpu = None  # unknown: plan as if a GPU profile will get its GPU
    else:
        port, note = _choose_port(engine, profile, opts, existing, stop_command)
        gpu = engine.facts().gpu_runtime
    model_file, secrets = host_inputs(daemon, profile, opts)
    # The salt of the running container's secrets label: fingerprints then compare.
    old = parse_secrets_label(existing.labels.get(LABEL_SECRETS)) if existing else None

    def plan(gpu_available: bool | None) -> ContainerSpec:
        return plan_container(profile, opts, host_port=port, gpu_available=gpu_available,
                              model_file=model_file, secrets=secrets.values,
                              secret_salt=old[0] if old else None)

    try:
        spec = plan(gpu)
    except LlmctlError as exc:
        if not (dry_run and exc.details.get("reason") == "gpu-required"):
            raise
        warnings.append(f"{exc.message}: `up` would refuse to start it on this engine. "
                        f"{exc.hint}")
        spec = plan(None)
    return UpPlan(spec, existing, note, warnings)


def _decide(existing: ContainerInfo | None, spec: ContainerSpec, recreate: bool) -> tuple[
        str, str | None, ConflictError | None]:
    """What `up` does with the container that exists under the spec's name: (action, why,
    the error that refuses it). Actions: create, reuse, start, recreate, refuse."""
    if existing is None:
        return "create", None, None
    if existing.labels.get(LABEL_MANAGED) != "true":
        return "refuse", None, ConflictError(
            f"a container named {spec.name} exists and was not made by llmctl",
            f"Pick another name with --name, or remove it yourself (`docker rm {spec.name}`).",
        )
    if existing.labels.get(LABEL_SPEC_HASH) != spec.labels[LABEL_SPEC_HASH]:
        why = _changes(existing, spec)
        if recreate:
            return "recreate", why, None
        return "refuse", why, ConflictError(
            f"{spec.name} exists with a different spec ({why})",
            "Run with --recreate to replace it (its volume is kept), or drop the options "
            "that differ.",
        )
    secrets = secrets_changed(existing.labels.get(LABEL_SECRETS), spec.labels.get(LABEL_SECRETS))
    if secrets and secrets[0]:
        names = " and ".join(secrets[0])
        why = f"another {names} than the one given now"
        if recreate:
            return "recreate", why, None
        return "refuse", why, ConflictError(
            f"{spec.name} runs with {why}",
            f"Run with --recreate to apply it (the volume and its models are kept): "
            f"`llmctl up {spec.profile} --name {spec.instance} --recreate`.",
            details={"reason": "secrets", "secrets": secrets[0]},
        )
    return ("reuse" if existing.running else "start"), None, None


def secrets_note(existing: ContainerInfo | None, spec: ContainerSpec) -> str | None:
    """A running container keeps secrets that are not given now: say so (not an error)."""
    if existing is None or existing.labels.get(LABEL_MANAGED) != "true":
        return None
    diff = secrets_changed(existing.labels.get(LABEL_SECRETS), spec.labels.get(LABEL_SECRETS))
    if diff is None and spec.secrets:
        names = " and ".join(sorted(spec.secrets))
        return (f"{spec.name} was made by an llmctl that did not record its secrets: if "
                f"{names} changed since, --recreate applies it")
    if not diff or diff[0] or not diff[1]:
        return None
    names = " and ".join(diff[1])
    return (f"{spec.name} keeps the {names} it was started with (none is given now); "
            "--recreate starts it without")


def dry_run(
    engine: Engine | None, profile: Profile, opts: UpOptions, *, recreate: bool = False,
    stop_command: StopCommand = down_command,
) -> DryRunResult:
    """`up --dry-run`: plan, then say what would be pulled, created or removed, reading
    the engine only (no pull, no registry, no container, volume or network made)."""
    planned = plan_up(engine, profile, opts, dry_run=True, stop_command=stop_command)
    spec = planned.spec
    result = DryRunResult(spec=spec, port_note=planned.port_note,
                          engine_checked=engine is not None, container="unknown",
                          warnings=planned.warnings)
    if engine is None:
        return result
    action, why, conflict = _decide(planned.existing, spec, recreate)
    result.container, result.reason = action, why
    if conflict is not None:
        result.reason = conflict.message
        result.warnings.append(f"{conflict.message}: `up` would stop here. {conflict.hint}")
    note = secrets_note(planned.existing, spec)
    if note:
        result.warnings.append(note)
    if action not in ("create", "recreate"):
        return result
    if action == "recreate":
        result.would_remove.append(f"container {spec.name}")
    if not engine.image_present(spec.image):
        result.would_pull.append(spec.image)
    if not engine.has_network():
        result.would_create.append("network llmctl")
    result.would_create += [f"volume {v.name}" for v in spec.volumes
                            if engine.volume_labels(v.name) is None]
    result.would_create.append(f"container {spec.name}")
    return result


def up(
    engine: Engine,
    profile: Profile,
    opts: UpOptions,
    *,
    wait: bool = True,
    timeout: float | None = None,
    recreate: bool = False,
    progress: ProgressSink = null_sink,
    notify: Notify = _quiet,
    on_wait: Callable[[float, str], None] | None = None,
    on_status: Callable[[WaitStatus], None] | None = None,
    on_warning: Notify | None = None,
    stop_command: StopCommand = down_command,
    pinned_image: str | None = None,
) -> UpResult:
    """``pinned_image``: create the container from this reference (``repo@sha256:...``,
    `up --frozen`) instead of the spec's tag; the spec and its labels stay the tag's."""
    planned = plan_up(engine, profile, opts, stop_command=stop_command)
    spec, existing, port_note = planned.spec, planned.existing, planned.port_note
    for warning in planned.warnings:
        (on_warning or notify)(warning)
    if port_note:
        notify(port_note)
    action, why, conflict = _decide(existing, spec, recreate)
    if conflict is not None:
        raise conflict
    note = secrets_note(existing, spec)
    if note:
        (on_warning or notify)(note)
    if action == "recreate":
        notify(f"removing {spec.name} to recreate it ({why})")
        engine.remove(spec.name)
        existing = None
    action = {"create": "created", "reuse": "reused", "start": "started",
              "recreate": "recreated"}[action]

    created_here = False
    made: ContainerInfo | None = None  # as `run` or `start` inspected it once started
    if existing is None:
        if engine.target.is_local and not port_free(spec.host_port, spec.bind):
            # Another `up` of the same instance may have won the race since we looked.
            if not _adopt_twin(engine, spec):
                raise port_conflict(engine, spec.host_port, spec.bind,
                                    explicit=opts.port is not None, stop_command=stop_command)
            action = "reused"
        else:
            run_spec = pin_image(spec, pinned_image) if pinned_image else spec
            if not engine.image_present(run_spec.image):
                # The progress sink says "pulling IMAGE" (once): no note of our own.
                engine.pull_image(run_spec.image, progress, alternative="--image REF")
            if wait:
                warm_up()  # the first look's imports, while the daemon creates and starts it
            try:
                made = engine.run(run_spec)
                created_here = True
            except ConflictError as exc:
                if exc.details.get("reason") == "name":
                    # Someone created it between our look and our create (HTTP 409).
                    if not _adopt_twin(engine, spec, after_409=True):
                        raise ConflictError(
                            f"another llmctl run created {spec.name} with a different spec",
                            "Run `llmctl status`, then `llmctl up --recreate` if needed.",
                        ) from exc
                    action = "reused"
                elif exc.details.get("port"):
                    if not _adopt_twin(engine, spec):
                        raise port_conflict(engine, spec.host_port, spec.bind,
                                            explicit=opts.port is not None,
                                            stop_command=stop_command) from exc
                    action = "reused"
                else:
                    raise
    elif action == "started":
        if wait:
            warm_up()
        made = engine.start(spec.name)

    # What was just created or found running was inspected a moment ago: not asked again.
    info = made or (existing if action == "reused" else None) or engine.get(spec.name)
    if info is None:
        raise ended_error("removed", None, when="while it was starting")
    server = server_from(info, engine.address_host)
    result = UpResult(
        action=action, instance=spec.instance, profile=profile.name, container=spec.name,
        image=spec.image, api=spec.api, bind=spec.bind, host_port=spec.host_port,
        exposed=spec.exposed, endpoint=server.endpoint or "",
        endpoint_container=server.endpoint_container or "",
        base_url=server.base_url or "", volumes=[v.name for v in spec.volumes],
        gpus=spec.gpus, ready=None, port_note=port_note, spec=spec, model=spec.model,
        mounts=list(spec.mounts),
    )
    if not wait:
        return result
    if not engine.target.is_local and spec.bind in ("127.0.0.1", "::1"):
        result.notes.append(
            f"the daemon is remote: {spec.bind}:{spec.host_port} is only reachable on that host; "
            f"tunnel it (`ssh -L {spec.host_port}:127.0.0.1:{spec.host_port} HOST`) or use --bind"
        )
        return result

    def state() -> tuple[str, int | None]:
        current = engine.get(spec.name)
        return (current.state, current.exit_code) if current else ("removed", None)

    def watch(wake: Callable[[], None]) -> Callable[[], None]:
        # An exit, a removal or a health change wakes the wait at once (not at its next look).
        return engine.watch(spec.name, lambda _event: wake()).close

    try:
        result.ready_seconds = wait_ready(
            result.endpoint, profile.readiness, timeout=timeout or profile.readiness.timeout,
            container_state=state, logs=lambda: engine.logs_tail(spec.name), on_wait=on_wait,
            kind=profile.kind, model=spec.model, on_status=on_status, watch=watch,
        )
        result.ready = True
    except BaseException:
        if created_here:
            # Leave nothing half-made: a container this run created and that never became
            # ready is removed (its volume, and the models in it, are kept).
            try:
                with contextlib.suppress(Exception):
                    engine.remove(spec.name, stop_timeout=2)
            except KeyboardInterrupt:
                # A second Ctrl-C during the clean-up: report what is left instead.
                raise Interrupted(
                    f"interrupted; the container {spec.name} may be left behind",
                    f"Remove it with `llmctl down {profile.name} --name {spec.instance}`.",
                ) from None
        raise
    return result


def _pick_instance(engine: Engine, profile: str | None, name: str | None) -> list[ContainerInfo]:
    if name is not None:
        found = engine.list_managed(**{LABEL_INSTANCE: name})
        if profile:
            found = [c for c in found if c.labels.get(LABEL_PROFILE) == profile]
        if not found:
            raise NotFoundError(f"no llmctl container named {name!r}",
                                "See `llmctl status` for what is running.")
        return found
    if not profile:
        # Never guess what to remove: name it.
        running = sorted(f"{c.labels.get(LABEL_PROFILE, '?')} --name "
                         f"{c.labels.get(LABEL_INSTANCE, c.name)}"
                         for c in engine.list_managed() if LABEL_INSTANCE in c.labels)
        raise UsageError("say which server to take down",
                         "Run `llmctl down PROFILE` or `llmctl down --name NAME`"
                         + (f"; running: {'; '.join(running)}." if running else "."))
    found = engine.list_managed(**{LABEL_PROFILE: profile})
    if not found:
        raise NotFoundError(f"no llmctl container for profile {profile!r}",
                            "See `llmctl status`.")
    default = [c for c in found if c.labels.get(LABEL_INSTANCE) == profile]
    if default:
        return default
    if len(found) > 1:
        names = ", ".join(sorted(c.labels.get(LABEL_INSTANCE, c.name) for c in found))
        raise UsageError(f"several llmctl containers match ({names})",
                         "Pick one with --name.")
    return found


def down(
    engine: Engine, profile: str | None = None, *, name: str | None = None,
    volumes: bool = False,
) -> DownResult:
    from llmctl.names import validate_instance_name

    if profile is not None:
        validate_instance_name(profile, "PROFILE")
    if name is not None:
        validate_instance_name(name)
    from llmctl.expose.proxy import remove_proxy

    targets = _pick_instance(engine, profile, name)
    result = DownResult([], [], [])
    for info in targets:
        # Its proxy first (`llmctl expose`): nothing is left answering for a gone server.
        gone, vol_gone, vol_kept = remove_proxy(engine, info.labels.get(LABEL_INSTANCE, ""),
                                                volumes=volumes)
        result.removed += gone
        result.volumes_removed += vol_gone
        result.volumes_kept += vol_kept
        if engine.remove(info.name):
            result.removed.append(info.name)
        for vol in info.volumes:
            if not volumes:
                result.volumes_kept.append(vol)
                continue
            labels = engine.volume_labels(vol)
            if labels is None:
                continue
            if labels.get(LABEL_MANAGED) != "true":
                result.volumes_kept.append(vol)  # not ours: never removed
                continue
            if engine.remove_volume(vol):
                result.volumes_removed.append(vol)
    return result


def status(engine: Engine, *, health_timeout: float = 1.5,
           labels: dict[str, str] | None = None) -> list[StatusEntry]:
    """Every managed container (with ``labels``: those carrying them) and its health."""
    servers = list_servers(engine, **(labels or {}))

    def health(server: ManagedServer) -> StatusEntry:
        if server.state != "running":
            return StatusEntry(server, "stopped", server.state)
        if not server.endpoint:
            return StatusEntry(server, "down", "no published port")
        if not engine.target.is_local and server.host_ip in ("127.0.0.1", "::1"):
            return StatusEntry(server, "unknown", "published on the remote host's loopback: "
                               f"tunnel it (ssh -L {server.host_port}:127.0.0.1:"
                               f"{server.host_port} HOST) to reach it from here")
        readiness = Readiness("/", 200, None)
        with contextlib.suppress(LlmctlError):
            from llmctl.profiles import load_profile

            readiness = load_profile(server.profile).readiness
        check = check_once(server.endpoint, readiness, timeout=health_timeout)
        return StatusEntry(server, "ok" if check.ok else "down", check.detail)

    if not servers:
        return []
    from concurrent.futures import ThreadPoolExecutor  # here: `up` and `down` need none

    with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
        return list(pool.map(health, servers))
