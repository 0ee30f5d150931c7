"""`expose`, `unexpose`, and removing a server's proxy for `down`.

`expose` is idempotent: the same request reuses the running proxy and its key; a changed one
(listen address, TLS, image) replaces the proxy and keeps the key; ``--rotate-key`` replaces
the proxy with a new key. The LLM server is never restarted: the proxy reaches it by its
container name on the ``llmctl`` network. A proxy this run created that never answers is
removed again (nothing half-made).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmctl.errors import ConflictError, LlmctlError, NotFoundError, NotReadyError, ServerError
from llmctl.expose import caddy
from llmctl.expose.plan import (
    CONTAINER_PORT,
    DEFAULT_HOST_PORT,
    LABEL_KEY_CREATED,
    LABEL_PROXY_FOR,
    Checked,
    ExposeRequest,
    Upstream,
    check,
    endpoint_name,
    exposure_warnings,
    new_key,
    now_text,
    plan_proxy,
    proxy_name,
    tls_names,
    volume_name,
)
from llmctl.plan import (
    LABEL_INSTANCE,
    LABEL_MANAGED,
    LABEL_ROLE,
    LABEL_SPEC_HASH,
    LOOPBACK_BINDS,
    ROLE_PROXY,
    ContainerSpec,
)

if TYPE_CHECKING:
    from llmctl.endpoint import Endpoint
    from llmctl.engine.model import ContainerInfo, Engine
    from llmctl.progress import ProgressSink
    from llmctl.targets.base import Events

UNSPECIFIED = ("0.0.0.0", "::")
UNREACHED = (401, 502, 504)  # with the key: the proxy did not get an answer from the server
POLL = 0.2


@dataclass
class ExposeResult:
    """What `expose` did. The key is never part of it: it is in the endpoint file only."""

    action: str  # created | reused | started | recreated | rotated
    instance: str
    proxy: str  # the proxy's container
    image: str
    listen: str  # IP:PORT the proxy is published on
    exposed: bool  # published beyond loopback
    tls: str  # off | internal
    url: str  # the API base through the proxy, from this machine
    endpoint_container: str  # the same for other containers (llmctl network)
    upstream: str  # the server's container
    key_created: str  # UTC, ISO 8601
    key_rotated: bool
    ca_file: str | None = None  # the proxy's CA certificate on this machine (--tls internal)
    endpoint: str | None = None  # the endpoint file entry written (None: not written)
    endpoints_file: str | None = None
    model: str | None = None
    ready: bool | None = None  # None: not checked (the proxy is not reachable from here)
    ready_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class UnexposeResult:
    instance: str
    removed: list[str]  # containers
    volumes_removed: list[str]
    volumes_kept: list[str]
    endpoint_removed: str | None = None
    ca_removed: str | None = None
    default: str | None = None  # the default endpoint afterwards, when this changed it


def _quiet(_: str) -> None:
    pass


# --- the request, before the engine ----------------------------------------------------------


def check_request(request: ExposeRequest, events: Events | None = None) -> Checked:
    """:func:`llmctl.expose.plan.check`, then, for a listen address beyond loopback, the
    warnings (TLS off: the key in clear) and a confirmation (``events.confirm``)."""
    checked = check(request)
    if checked.exposed and events is not None:
        port = checked.listen_port or "a free port"
        for warning in exposure_warnings(checked, port):
            events.warn(warning)
        where = f"[{checked.listen_ip}]" if ":" in checked.listen_ip else checked.listen_ip
        events.confirm(f"Expose {checked.instance} on {where}:{port}?",
                       f"--listen {request.listen}")
    return checked


# --- finding the server ----------------------------------------------------------------------


def find_upstream(engine: Engine, instance: str) -> tuple[Upstream, str | None]:
    """The server llmctl runs under ``instance``, and its URL from this machine. Not found,
    stopped, or itself published beyond loopback (a proxy in front would protect nothing):
    an error that says what to do."""
    from llmctl.managed import list_servers
    from llmctl.names import MODEL_RUNNER

    servers = list_servers(engine, **{LABEL_INSTANCE: instance})
    if not servers:
        raise NotFoundError(f"no server llmctl runs is named {instance!r}",
                            "See `llmctl status`; start one with `llmctl up PROFILE "
                            f"--name {instance}`.")
    s = servers[0]
    if not s.endpoint_container:
        raise ServerError(f"{s.container} does not say which port its server listens on",
                          f"Recreate it: `llmctl up {s.profile} --name {instance} --recreate`.")
    if s.state != "running":
        raise NotReadyError(f"{instance} is {s.state}: a proxy needs a running server",
                            f"Start it: `llmctl up {s.profile} --name {instance}`.")
    if s.exposed:
        where = f"[{s.host_ip}]" if s.host_ip and ":" in s.host_ip else s.host_ip
        raise ConflictError(
            f"{instance} itself is published on {where}:{s.host_port}, beyond loopback: a "
            "proxy in front of it would protect nothing",
            f"Publish it on loopback first: `llmctl up {s.profile} --name {instance} --port "
            f"{s.host_port} --recreate` (binds 127.0.0.1), then expose it.",
            details={"reason": "server-exposed"})
    api_path = "/engines/v1" if s.profile == MODEL_RUNNER else (
        "/v1" if s.api == "openai" else "")
    upstream = Upstream(instance=instance, profile=s.profile, api=s.api, api_path=api_path,
                        container=s.container,
                        address=s.endpoint_container.split("://", 1)[1].rstrip("/"),
                        state=s.state, host_ip=s.host_ip, host_port=s.host_port)
    return upstream, s.endpoint


# --- expose ----------------------------------------------------------------------------------


def lan_address(v6: bool = False) -> str | None:
    """This machine's address on its default route (a UDP socket is pointed at a
    documentation address: nothing is sent); None without one."""
    import socket

    family, probe = (socket.AF_INET6, "2001:db8::1") if v6 else (socket.AF_INET, "192.0.2.1")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            addr = str(s.getsockname()[0])
    except OSError:
        return None
    return None if addr in LOOPBACK_BINDS or addr.startswith("127.") else addr


def _url_host(engine: Engine, listen_ip: str) -> tuple[str, tuple[str, ...]]:
    """The host the endpoint URL names (and the certificate's default name), and the other
    names the certificate is for."""
    import socket

    from llmctl.managed import endpoint_host

    if not engine.target.is_local:
        return engine.address_host, ()
    if listen_ip in UNSPECIFIED:
        # Every interface: the URL uses this machine's LAN address (the same from here and
        # from the laptops); the host name is on the certificate for clients that use it.
        host = lan_address(listen_ip == "::") or ("::1" if listen_ip == "::" else "127.0.0.1")
        return host, (socket.gethostname(),)
    host = endpoint_host(listen_ip, engine.address_host).strip("[]")
    return host, ((socket.gethostname(),) if listen_ip not in LOOPBACK_BINDS else ())


def _taken(engine: Engine, ip: str, port: int) -> ConflictError:
    from llmctl.ports import next_free, process_holding, who_holds

    holder = who_holds(port, published=engine.published_ports(),
                       process=process_holding if engine.target.is_local else None)
    if holder.container is not None:
        what = f"container {holder.container.name}"
    else:
        what = f"host process {holder.process}" if holder.process else "another program"
    taken = [p.host_port for _, p in engine.published_ports()]
    free = next_free(port + 1, ip, taken)
    where = f"[{ip}]" if ":" in ip else ip
    hint = (f"Use a free port, e.g. --listen {where}:{free}." if free
            else "Free the port or pick another.")
    return ConflictError(f"port {where}:{port} is taken by {what}", hint,
                         details={"port": port, "holder": what, "suggested_port": free})


def _choose_port(engine: Engine, checked: Checked, existing: ContainerInfo | None
                 ) -> tuple[int, str | None]:
    from llmctl.ports import next_free, port_free

    ours = {p.host_port for p in existing.ports} if existing is not None else set()
    ip = checked.listen_ip
    if checked.listen_port is not None:
        port = checked.listen_port
        if port not in ours and engine.target.is_local and not port_free(port, ip):
            raise _taken(engine, ip, port)
        return port, None
    if existing is not None:
        for p in existing.ports:
            if p.host_ip == ip:
                return p.host_port, None
    default = DEFAULT_HOST_PORT[checked.tls]
    if not engine.target.is_local or default in ours or port_free(default, ip):
        return default, None
    taken = [p.host_port for _, p in engine.published_ports()]
    free = next_free(default + 1, ip, taken)
    if free is None:
        raise _taken(engine, ip, default)
    return free, f"port {default} is taken; the proxy listens on {free}"


def _existing_proxy(engine: Engine, instance: str) -> ContainerInfo | None:
    name = proxy_name(instance)
    existing = engine.get(name)
    if existing is not None and (existing.labels.get(LABEL_MANAGED) != "true"
                                 or existing.labels.get(LABEL_ROLE) != ROLE_PROXY):
        raise ConflictError(f"a container named {name} exists and was not made by "
                            "`llmctl expose`",
                            f"Remove it yourself (`docker rm -f {name}`) if it is not needed.")
    return existing


def expose(engine: Engine, checked: Checked, *, events: Events | None = None,
           progress: ProgressSink | None = None) -> ExposeResult:
    """Put (or keep) the proxy in front of ``checked.instance``, check it through its
    published port (401 without the key, the server's answer with it) and write the
    endpoint entry for the exposed URL with the key (and the CA with ``--tls internal``)."""
    from llmctl.progress import null_sink
    from llmctl.targets.base import Events

    events = events or Events()
    upstream, direct = find_upstream(engine, checked.instance)
    existing = _existing_proxy(engine, checked.instance)
    host_port, port_note = _choose_port(engine, checked, existing)
    if port_note:
        events.note(port_note)

    key, key_created, notes = None, now_text(), []
    kept = False  # the running proxy's key is kept (no rotation, read back)
    if existing is not None and not checked.rotate_key:
        key = caddy.key_of(engine.read_file(existing.name, caddy.CONFIG_PATH))
        if key is not None:
            kept = True
            key_created = existing.labels.get(LABEL_KEY_CREATED) or key_created
        else:
            notes.append(f"the key of {existing.name} could not be read back: a new key is "
                         "made (clients need the new endpoint entry)")
    key = key or new_key()
    url_host, extra = _url_host(engine, checked.listen_ip)
    names = tls_names(url_host, proxy_name(checked.instance), extra)
    spec = plan_proxy(upstream, checked, host_port=host_port, key=key, key_created=key_created,
                      url_host=url_host, names=names)

    action = "created"
    same = existing is not None and kept and \
        existing.labels.get(LABEL_SPEC_HASH) == spec.labels[LABEL_SPEC_HASH]
    if not same and not engine.image_present(spec.image):
        # Before the running proxy (if any) is removed: a failed pull changes nothing.
        engine.pull_image(spec.image, progress or null_sink, alternative="--proxy-image REF")
    if existing is not None:
        if same and existing.running:
            action = "reused"
        elif same:
            engine.start(existing.name)
            action = "started"
        else:
            events.note(f"replacing {existing.name}"
                        + (" (new key)" if checked.rotate_key else " (its key is kept)"))
            engine.remove(existing.name, stop_timeout=2)
            action = "rotated" if checked.rotate_key else "recreated"
    created_here = action in ("created", "recreated", "rotated")
    if created_here:
        theirs = _run(engine, spec)
        if theirs is not None:  # another `expose` created it first: its key is the key
            key = caddy.key_of(engine.read_file(spec.name, caddy.CONFIG_PATH)) or key
            key_created = theirs.labels.get(LABEL_KEY_CREATED) or key_created
            created_here, action = False, "reused"

    scheme = "https" if checked.tls == "internal" else "http"
    shown_host = f"[{url_host}]" if ":" in url_host else url_host
    root = f"{scheme}://{shown_host}:{host_port}"
    where = f"[{checked.listen_ip}]" if ":" in checked.listen_ip else checked.listen_ip
    result = ExposeResult(
        action=action, instance=checked.instance, proxy=spec.name, image=spec.image,
        listen=f"{where}:{host_port}", exposed=checked.exposed, tls=checked.tls,
        url=root + upstream.api_path,
        endpoint_container=(f"{scheme}://{spec.name}:{CONTAINER_PORT[checked.tls]}"
                            f"{upstream.api_path}"),
        upstream=upstream.container, key_created=key_created,
        key_rotated=checked.rotate_key and existing is not None, notes=notes)
    try:
        if checked.tls == "internal":
            result.ca_file = str(_fetch_ca(engine, spec.name, checked.instance,
                                           checked.timeout))
        reachable = engine.target.is_local or checked.listen_ip not in LOOPBACK_BINDS
        if reachable:
            result.ready_seconds = wait_proxy(engine, spec.name, root, key, result.ca_file,
                                              checked.timeout)
            result.ready = True
        else:
            result.notes.append(
                f"the daemon is remote: {result.listen} is only reachable on that host; "
                "the proxy was not checked from here")
    except BaseException:
        if created_here:
            with contextlib.suppress(Exception):
                engine.remove(spec.name, stop_timeout=1)
        raise
    _write_endpoint(result, upstream, direct, key, reachable=bool(result.ready),
                    on_wait=events.note)
    return result


def _run(engine: Engine, spec: ContainerSpec) -> ContainerInfo | None:
    """Create and start the proxy; None, or, when another `expose` of the same server
    created it first (409) with the same spec, that one."""
    try:
        engine.run(spec)
    except ConflictError as exc:
        if exc.details.get("reason") != "name":
            raise
        theirs = engine.get(spec.name)
        if theirs is None or theirs.labels.get(LABEL_SPEC_HASH) != spec.labels[LABEL_SPEC_HASH]:
            raise ConflictError(f"another llmctl run created {spec.name} meanwhile",
                                "Run `llmctl status`, then `llmctl expose` again.") from exc
        return theirs
    return None


def ca_path(instance: str) -> Path:
    """Where the CA certificate of ``instance``'s proxy is kept on this machine."""
    from llmctl.paths import config_dir

    return config_dir() / "expose" / instance / "ca.crt"


def _fetch_ca(engine: Engine, proxy: str, instance: str, timeout: float) -> Path:
    """Copy the proxy's CA root certificate out of its container (Caddy makes it when it
    starts; it stays in the proxy's volume) to :func:`ca_path`."""
    from llmctl.files import atomic_write

    deadline = time.monotonic() + timeout
    while True:
        pem = engine.read_file(proxy, caddy.CA_PATH)
        if pem and b"BEGIN CERTIFICATE" in pem:
            break
        _check_running(engine, proxy)
        if time.monotonic() > deadline:
            raise NotReadyError(f"the proxy {proxy} made no CA certificate in {timeout:g} s "
                                f"({caddy.CA_PATH})",
                                f"See `docker logs {proxy}`; --proxy-image must be Caddy 2 "
                                "shaped like the official image (data in /data).")
        time.sleep(POLL)
    path = ca_path(instance)
    atomic_write(path, pem, mode=0o644)  # a certificate: public
    return path


def _check_running(engine: Engine, name: str) -> None:
    info = engine.get(name)
    if info is None or info.state in ("exited", "dead", "removing"):
        lines = engine.logs_tail(name, 5) if info is not None else []
        said = f": {lines[-1][:200]}" if lines else ""
        raise NotReadyError(f"the proxy {name} stopped while starting{said}",
                            f"See `docker logs {name}`; --proxy-image must be Caddy 2 shaped "
                            "like the official image (caddy, /etc/caddy/Caddyfile, /data).")


def status_code(url: str, key: str | None, ca_file: str | None, timeout: float) -> int | str:
    """The HTTP status of ``GET url/`` (with the key when given), or why there is none."""
    import httpx

    from llmctl.backends.http import describe_transport_error, make_client

    headers = {"Authorization": f"Bearer {key}"} if key else None
    try:
        with make_client(url, timeout=timeout, connect_timeout=timeout, headers=headers,
                         ca_file=ca_file) as client:
            return client.get("/").status_code
    except httpx.HTTPError as exc:
        return describe_transport_error(exc)


def wait_proxy(engine: Engine, name: str, root: str, key: str, ca_file: str | None,
               timeout: float) -> float:
    """Wait until the proxy at ``root`` answers 401 without the key and passes a request
    with the key on to the server (any answer of the server's). A proxy that answers
    without the key is an error at once: it does not authenticate."""
    start = time.monotonic()
    last = "no answer yet"
    while True:
        without = status_code(root, None, ca_file, 2.0)
        if without == 401:
            with_key = status_code(root, key, ca_file, 5.0)
            if isinstance(with_key, int) and with_key not in UNREACHED:
                return time.monotonic() - start
            last = (f"it answers 401 without the key, and with it "
                    f"{'HTTP ' if isinstance(with_key, int) else ''}{with_key}: the server "
                    "behind it does not answer")
        elif isinstance(without, int):
            raise ServerError(f"the proxy {name} answered HTTP {without} to a request without "
                              "the key: it does not authenticate",
                              "Use a Caddy 2 image shaped like the official one "
                              "(--proxy-image); it was removed.")
        else:
            last = without
        _check_running(engine, name)
        if time.monotonic() - start > timeout:
            raise NotReadyError(f"the proxy {name} is not ready after {timeout:g} s: {last}",
                                f"See `docker logs {name}` and `llmctl status`.")
        time.sleep(POLL)


# --- the endpoint entry ----------------------------------------------------------------------


def _model_for(result: ExposeResult, upstream: Upstream, direct: str | None, key: str,
               reachable: bool) -> tuple[str | None, list[str]]:
    """The model the entry names: the one already named for this entry or this server in
    the endpoint file, else the server's only one (first one, said in a note), through
    the proxy."""
    from llmctl.endpoint import read_config
    from llmctl.urls import server_root

    notes: list[str] = []
    with contextlib.suppress(LlmctlError):
        _, eps = read_config()
        mine = endpoint_name(upstream.instance)
        inside = f"http://{upstream.address}"
        for ep in sorted(eps, key=lambda e: e.name != mine):
            roots = {server_root(ep.endpoint), server_root(ep.endpoint_container or "")}
            if ep.name == mine or inside in roots or (direct and server_root(direct) in roots):
                return ep.model, notes
    if not reachable:
        return None, notes
    models = _list_models(result.url, upstream.api, key, result.ca_file)
    if not models:
        return None, notes
    if len(models) > 1:
        notes.append(f"the endpoint names model {models[0]} (the server has {len(models)}); "
                     f"pick another with `llmctl endpoint write --endpoint {result.url} "
                     f"--model NAME --name {endpoint_name(upstream.instance)}`")
    return models[0], notes


def _list_models(url: str, api: str, key: str, ca_file: str | None) -> list[str]:
    from llmctl.backends.http import make_client

    headers = {"Authorization": f"Bearer {key}"}
    try:
        if api == "ollama":
            from llmctl.backends import ollama

            with make_client(url, timeout=10.0, headers=headers, ca_file=ca_file) as client:
                return list(ollama.list_tags(client))
        from llmctl.backends import openai

        with make_client(url.rstrip("/") + "/", timeout=10.0, headers=headers,
                         ca_file=ca_file) as client:
            return list(openai.list_models(client))
    except Exception:  # the entry is then written without a model: said in a note
        return []


def _write_endpoint(result: ExposeResult, upstream: Upstream, direct: str | None, key: str,
                    *, reachable: bool, on_wait: Callable[[str], None] = _quiet) -> None:
    from datetime import datetime, timezone

    from llmctl.endpoint import Endpoint, Verified, save_endpoint
    from llmctl.names import MODEL_RUNNER

    model, notes = _model_for(result, upstream, direct, key, reachable)
    result.notes += notes
    name = endpoint_name(upstream.instance)
    if not model:
        result.notes.append(
            f"no endpoint entry written: {upstream.instance} has no model yet; pull one "
            f"through the proxy (`llmctl pull MODEL --endpoint {result.url}`), then run "
            f"`llmctl expose {upstream.instance}` again")
        return
    verified = None
    if reachable:
        verified = Verified(at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                            server=upstream.profile, model_present=True)
    ep: Endpoint = Endpoint(
        name=name, api_type=upstream.api, endpoint=result.url, model=model,
        llm_type="docker-model-runner" if upstream.profile == MODEL_RUNNER
        else "docker-container",
        endpoint_container=result.endpoint_container, bearer_token=key,
        ca_file=result.ca_file, verified=verified)
    path = save_endpoint(ep, make_default=True, on_wait=on_wait)
    result.endpoint, result.endpoints_file, result.model = name, str(path), model


# --- unexpose, and down's part ---------------------------------------------------------------


def remove_proxy(engine: Engine, instance: str, *, volumes: bool = False
                 ) -> tuple[list[str], list[str], list[str]]:
    """Remove ``instance``'s proxy (what `down` and `unexpose` do): (containers removed,
    volumes removed, volumes kept). Only a container labelled as llmctl's proxy."""
    removed: list[str] = []
    for info in engine.list_managed(**{LABEL_ROLE: ROLE_PROXY, LABEL_PROXY_FOR: instance}):
        if engine.remove(info.name, stop_timeout=2):
            removed.append(info.name)
    gone: list[str] = []
    kept: list[str] = []
    vol = volume_name(instance)
    labels = engine.volume_labels(vol)
    if labels is not None and labels.get(LABEL_MANAGED) == "true":
        if volumes and engine.remove_volume(vol):
            gone.append(vol)
        elif not volumes:
            kept.append(vol)
    return removed, gone, kept


def unexpose(engine: Engine, instance: str, *, volumes: bool = False) -> UnexposeResult:
    """Remove the proxy, its endpoint entry and its CA file on this machine (the CA volume
    only with ``volumes``: kept, a later `expose --tls internal` uses the same CA)."""
    from llmctl.endpoint import load_endpoint, read_config, remove_endpoint, save_endpoint
    from llmctl.names import validate_instance_name

    validate_instance_name(instance, "NAME")
    removed, gone, kept = remove_proxy(engine, instance, volumes=volumes)
    result = UnexposeResult(instance, removed, gone, kept)
    name = endpoint_name(instance)
    default, eps = read_config()
    if any(e.name == name for e in eps):
        remove_endpoint(name)
        result.endpoint_removed = name
        if default == name and any(e.name == instance for e in eps):
            # The server's own entry (written by `up --write-endpoint`) is the default again.
            save_endpoint(load_endpoint(instance), make_default=True)
            result.default = instance
    ca = ca_path(instance)
    if ca.exists():
        ca.unlink()
        with contextlib.suppress(OSError):
            ca.parent.rmdir()
        result.ca_removed = str(ca)
    if not (removed or gone or result.endpoint_removed or result.ca_removed):
        raise NotFoundError(f"{instance} is not exposed (no proxy, no endpoint entry "
                            f"{name!r})", "See `llmctl status`.")
    return result
