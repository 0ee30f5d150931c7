"""NAMEs to the services an export describes: what llmctl runs here, or what `up` would run.

- No NAME: every container llmctl manages on the engine.
- A NAME with none of `up`'s options: the managed container of that instance when there is
  one (exactly what runs), else the profile (or target) of that name with its defaults.
- A NAME with `up`'s options (``--port``, ``--image``, ``--env``, ...): the profile with
  those options, as `up` would plan it, without the engine (the default port, a GPU only
  where asked or required): nothing of this machine's state leaks into the export.

A managed container is rebuilt from its options label (``io.llmctl.options``, written by
`up`: resolved options, secrets named, never valued) and the rebuilt spec must have the
container's spec hash: a profile edited since the container started, or a container made by
an llmctl that did not record its options, is an error that says how to go on, never a file
that differs silently from what runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from llmctl.errors import ConflictError, EngineUnavailable, LlmctlError, NotFoundError, UsageError
from llmctl.export.model import RUNNER, GpuRequest, Service
from llmctl.plan import (
    LABEL_INSTANCE,
    LABEL_OPTIONS,
    LABEL_PORT,
    LABEL_PROFILE,
    LABEL_SPEC_HASH,
    looks_secret,
    parse_options_label,
)
from llmctl.targets.base import Events, UpRequest, Workload

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo, Engine


@dataclass
class Collected:
    services: list[Service]
    notes: list[str] = field(default_factory=list)


def env_items(items: Sequence[str], profile_secrets: Sequence[str] = ()) -> tuple[
        tuple[str, ...], tuple[str, ...]]:
    """``--env`` items as (items for the target, secret names): ``--env KEY`` of a secret
    needs no value here (an export never holds one), so it is named only."""
    kept: list[str] = []
    secret: list[str] = []
    for item in items:
        key, sep, _ = item.partition("=")
        if not sep and looks_secret(key, profile_secrets):
            secret.append(key)
        else:
            kept.append(item)
    return tuple(kept), tuple(secret)


def with_gpu(request: UpRequest, gpu: GpuRequest | None) -> UpRequest:
    """`export kube|helm-values --gpu` on a request: Model Runner picks its image variant,
    a profile gets all GPUs or none (the count is the form's)."""
    if gpu is None:
        return request
    if request.name == RUNNER:
        return replace(request, gpu={"nvidia": "cuda", None: "none"}.get(gpu.vendor, "none"))
    return replace(request, gpus="all" if gpu.vendor else "none")


def _workload(request: UpRequest, events: Events, gpu: GpuRequest | None) -> Workload:
    from llmctl.targets import registry

    target = registry.find(request.name, events)
    workload = target.workload(None, with_gpu(request, gpu))
    if request.name == RUNNER and gpu is not None and gpu.vendor == "amd" \
            and workload.spec is not None:
        # llmctl starts no ROCm runner itself (the `docker model` plugin does), but the
        # image exists for clusters: the same version, -rocm.
        from llmctl.targets.model_runner.container import runner_image

        workload = replace(workload, spec=replace(workload.spec, image=runner_image("rocm")))
    return workload


def from_profile(name: str, options: UpRequest, events: Events,
                 gpu: GpuRequest | None = None) -> Service:
    """What `up NAME` with ``options`` would run (planned without an engine)."""
    from llmctl.profiles import load_profile

    secrets: tuple[str, ...] = ()
    if name != RUNNER:
        secrets = tuple(s.env for s in load_profile(name).secrets)
    items, named = env_items(options.env, secrets)
    request = replace(options, name=name, env=items,
                      secret_names=tuple(dict.fromkeys((*options.secret_names, *named))))
    workload = _workload(request, events, gpu)
    # Model Runner takes no --model at `up`; for an export it names a model to declare.
    models = (options.model,) if name == RUNNER and options.model else ()
    return _service(workload, source="profile", models=models)


def _service(workload: Workload, *, source: str, endpoint: str | None = None,
             models: tuple[str, ...] = ()) -> Service:
    from llmctl.profiles import load_profile

    if workload.spec is None:
        raise UsageError(
            f"{workload.target}: {'; '.join(workload.notes) or 'no container to describe'}",
            "Docker Desktop runs Model Runner itself: export its models instead "
            "(`llmctl export compose model-runner --models --model REF`).")
    declared: tuple[str, ...] = ()
    if workload.target != RUNNER:
        declared = tuple(s.env for s in load_profile(workload.target).secrets)
    # The runner is always planned without an engine here, as its note says: not news.
    notes = () if workload.target == RUNNER else tuple(workload.notes)
    return Service(workload.instance, workload, source=source, endpoint=endpoint,
                   secrets=tuple(sorted({*workload.secret_env, *declared})),
                   models=workload.models or models, notes=notes)


# --- from a managed container --------------------------------------------------------------
def _str(doc: dict[str, object], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def _strings(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def request_from_options(profile: str, instance: str, doc: dict[str, object]) -> UpRequest:
    """The `up` request recorded in a container's options label."""
    port = doc.get("port")
    return UpRequest(
        name=profile, instance=instance,
        port=port if isinstance(port, int) else None,
        bind=_str(doc, "bind") or "127.0.0.1", image=_str(doc, "image"),
        volume=_str(doc, "volume"), gpus=_str(doc, "gpus") or "auto",
        env=_strings(doc, "env"), secret_names=_strings(doc, "secret_env"),
        model=_str(doc, "model"), model_file=_str(doc, "model_file"),
        yes=True,  # a host folder was confirmed when the container was made
    )


def request_from_info(profile: str, instance: str, info: ContainerInfo) -> UpRequest:
    """What a container made without the options label shows of its request: image,
    port, volume. Its environment, model and GPU are not recorded: the spec hash tells
    whether the defaults match."""
    from llmctl.profiles import load_profile

    cport = int(info.labels.get(LABEL_PORT) or 0)
    port = next((p for p in info.ports if p.container_port == cport), None)
    volume = None
    spec_volumes = load_profile(profile).volumes
    if info.volumes and spec_volumes:
        default = spec_volumes[0].name if instance == profile else \
            f"{instance}-{spec_volumes[0].name}"
        if info.volumes[0] != default:
            volume = info.volumes[0]
    return UpRequest(name=profile, instance=instance, image=info.image or None,
                     port=port.host_port if port else None,
                     bind=port.host_ip if port else "127.0.0.1", volume=volume, gpus="none",
                     yes=True)


def _runner_request(info: ContainerInfo) -> UpRequest:
    from llmctl.targets.model_runner.container import CONTAINER_PORT, host_port_of

    port = next((p.host_port for p in info.ports
                 if p.container_port == CONTAINER_PORT and p.host_ip == "127.0.0.1"),
                host_port_of(info))
    gpu = "cuda" if info.image.endswith("-cuda") else "none"
    return UpRequest(name=RUNNER, instance=RUNNER, tcp=port, gpu=gpu)


def from_container(info: ContainerInfo, engine: Engine, events: Events,
                   gpu: GpuRequest | None = None) -> Service:
    """Exactly what the managed container ``info`` runs (see the module doc)."""
    from llmctl.managed import server_from

    profile = info.labels.get(LABEL_PROFILE, "")
    instance = info.labels.get(LABEL_INSTANCE, info.name)
    server = server_from(info, engine.address_host)
    endpoint = server.endpoint if info.running else None
    source = f"container {info.name}"
    if profile == RUNNER:
        request = _runner_request(info)
        workload = _workload(request, events, gpu)
        if gpu is None and workload.spec is not None:
            # What runs, even when this llmctl would pick another runner release.
            workload = replace(workload, spec=replace(workload.spec, image=info.image))
        return _service(workload, source=source, endpoint=endpoint)
    doc = parse_options_label(info.labels.get(LABEL_OPTIONS))
    request = request_from_options(profile, instance, doc) if doc is not None else \
        request_from_info(profile, instance, info)
    workload = _workload(request, events, None)
    assert workload.spec is not None
    if workload.spec.labels.get(LABEL_SPEC_HASH) != info.labels.get(LABEL_SPEC_HASH):
        down = f"llmctl down {profile} --name {instance}"
        if doc is not None:
            raise ConflictError(
                f"{info.name} runs another spec than profile {profile!r} gives now (the "
                "profile, or llmctl, changed since the container was started)",
                f"Recreate it from the profile (`llmctl up {profile} --name {instance} "
                "--recreate` with the options you gave), or export the profile as it is now "
                f"(`llmctl export ... {profile} --name {instance} ...`).",
                details={"reason": "spec-changed", "container": info.name})
        raise ConflictError(
            f"{info.name} was started by an llmctl that did not record its options "
            "(environment, model, GPU): what it runs cannot be read back exactly",
            f"Export the profile with the options you gave `up` (`llmctl export ... {profile} "
            f"--name {instance} --port ...`), or start it again with this llmctl "
            f"(`{down}`, then `llmctl up ...`).",
            details={"reason": "no-options-label", "container": info.name})
    if gpu is not None:
        workload = _workload(request, events, gpu)
    return _service(workload, source=source, endpoint=endpoint)


# --- the models a running server holds ------------------------------------------------------
def read_pulled(service: Service, timeout: float = 5.0) -> tuple[tuple[str, ...], str | None]:
    """(the models the running server holds, or why they could not be read). Only a
    server that runs on this machine now (``service.endpoint``) is asked."""
    if service.endpoint is None:
        return (), None
    from llmctl.backends.http import make_client

    try:
        with make_client(service.endpoint, timeout=timeout, connect_timeout=timeout) as client:
            if service.kind == "ollama":
                from llmctl.backends.ollama import list_tags

                names = list_tags(client)
            elif service.kind == RUNNER:
                from llmctl.backends.model_runner import list_models

                names = [m.tags[0] for m in list_models(client) if m.tags]
            else:
                return (), None
    except LlmctlError as exc:
        return (), f"{service.name}: the models it holds were not read ({exc.message})"
    except Exception as exc:  # httpx transport errors: the server is not reachable
        return (), f"{service.name}: the models it holds were not read ({type(exc).__name__})"
    return tuple(sorted(set(names))), None


# --- NAMEs -----------------------------------------------------------------------------------
def collect(
    names: Sequence[str],
    options: UpRequest,
    *,
    options_given: bool,
    connect: Callable[[], Engine],
    events: Events,
    gpu: GpuRequest | None = None,
    read_models: bool = False,
) -> Collected:
    """The services of an export, sorted by name (see the module doc)."""
    out = Collected([])
    if options_given and len(names) != 1:
        raise UsageError(
            "the options that shape a server (--port, --image, --env, ...) describe one "
            f"server: name exactly one PROFILE (got {len(names) or 'none'})",
            "Export one at a time, or leave the options out to export what runs.")
    from llmctl.export.proxy import proxy_for, proxy_service

    engine: Engine | None = None
    managed: dict[str, ContainerInfo] = {}
    proxies: dict[str, ContainerInfo] = {}  # instance -> its `llmctl expose` proxy
    if not options_given:
        try:
            engine = connect()
            for found in engine.list_managed():
                owner = proxy_for(found)
                if owner is not None:
                    proxies[owner] = found
                    continue
                managed.setdefault(found.labels.get(LABEL_INSTANCE, found.name), found)
        except EngineUnavailable as exc:
            if not names:
                raise
            out.notes.append(f"{exc.message}: exported from the profiles with their defaults")
    if not names:
        if not managed:
            raise NotFoundError("no llmctl-managed servers to export",
                                "Start one (`llmctl up ollama`), or name a profile: "
                                "`llmctl export compose ollama`.")
        names = sorted(managed)
    services: dict[str, Service] = {}
    for name in names:
        info = managed.get(name)
        if info is not None and engine is not None:
            service = from_container(info, engine, events, gpu)
        else:
            try:
                service = from_profile(name, options, events, gpu)
            except NotFoundError as exc:
                if engine is None or options_given:
                    raise
                raise NotFoundError(f"{exc.message}; no llmctl container runs as {name!r} "
                                    "either", exc.hint) from None
        if service.name in services:
            raise UsageError(f"{service.name} is named twice",
                             "Name each server once (two instances need --name apart).")
        if read_models:
            pulled, problem = read_pulled(service)
            service = replace(service, pulled=pulled)
            if problem:
                out.notes.append(problem)
        services[service.name] = service
        if info is not None and name in proxies:  # exposed here: its proxy goes with it
            proxy = proxy_service(proxies[name], service)
            services[proxy.name] = proxy
    out.services = [services[k] for k in sorted(services)]
    return out
