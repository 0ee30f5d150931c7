"""`llmctl export compose`: a Compose file that runs what llmctl runs here.

Each service is the container `up` runs: the image (through :func:`image_ref`), its
command, environment without secrets (a secret is named with no value, so Compose takes it
from the environment of `docker compose up`, or the ``.env`` file beside the Compose file),
ports published as `up` publishes them (127.0.0.1 unless ``--bind``), named volumes under
their own names, host folders as bind mounts, GPUs under
``deploy.resources.reservations.devices``, the ``llmctl`` network, llmctl's labels (so
`llmctl status` and `llmctl export` see the containers as their own) and a healthcheck from
the profile's readiness. ``x-llmctl`` holds the endpoints. ``--models`` declares Model
Runner models (Compose's top-level ``models:``, Compose 2.38+).

Pure: services in, a document out. No top-level ``name:``: Debian's docker-compose 1.29
refuses it; the project name is the folder's or ``-p``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmctl.errors import UsageError
from llmctl.export.health import compose_healthcheck
from llmctl.export.images import Pins, image_ref
from llmctl.export.model import RUNNER, Service
from llmctl.export.proxy import ROLE_PROXY, compose_service
from llmctl.plan import LABEL_INSTANCE, LABEL_MANAGED, LABEL_SECRETS
from llmctl.urls import MODEL_RUNNER_PORT

NETWORK = "llmctl"
X_VERSION = 1
RUNNER_PORT = MODEL_RUNNER_PORT  # where Compose's Model Runner answers on Docker Engine
MODEL_NAME_RE = re.compile(r"[^a-z0-9._-]+")


@dataclass
class ComposeDoc:
    document: dict[str, Any]
    endpoints: dict[str, str]  # service -> URL on the machine that runs it
    endpoint_commands: list[str]
    secrets: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def url_host(bind: str) -> str:
    """The host a client on the machine that runs Compose connects to."""
    if bind in ("0.0.0.0", "127.0.0.1"):
        return "127.0.0.1"
    if bind in ("::", "::1"):
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


def port_text(host_ip: str, host_port: int, container_port: int) -> str:
    """Compose's short port syntax (the long one's ``host_ip`` is unknown to 1.29)."""
    ip = f"[{host_ip}]" if ":" in host_ip else host_ip
    return f"{ip}:{host_port}:{container_port}"


def endpoint_command(url: str, model: str | None = None) -> str:
    cmd = f"llmctl endpoint write --endpoint {url}"
    return cmd + (f" --model {model}" if model else "")


def _service_doc(s: Service, pins: Pins | None, notes: list[str],
                 warnings: list[str]) -> dict[str, Any]:
    spec = s.spec
    doc: dict[str, Any] = {
        "image": image_ref(spec.image, pins),
        "container_name": spec.name,
        "restart": spec.restart,
        "networks": [NETWORK],
        # The secrets label is a salted fingerprint of this machine's token: never exported.
        "labels": {k: v for k, v in spec.labels.items() if k != LABEL_SECRETS},
        "ports": [port_text(p.host_ip, p.host_port, p.container_port) for p in spec.ports],
    }
    if spec.command:
        doc["command"] = list(spec.command)
    env: dict[str, str | None] = dict(spec.env)
    env.update({k: None for k in s.secrets})  # named: the value comes from where it runs
    if env:
        doc["environment"] = env
    volumes: list[dict[str, Any]] = [
        {"type": "volume", "source": v.name, "target": v.target} for v in spec.volumes]
    volumes += [{"type": "bind", "source": m.source, "target": m.target,
                 "read_only": m.read_only} for m in spec.mounts]
    if volumes:
        doc["volumes"] = volumes
    if spec.gpus:
        doc["deploy"] = {"resources": {"reservations": {"devices": [
            {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}}}
    if spec.shm_size:
        doc["shm_size"] = spec.shm_size
    if spec.ipc_mode:
        doc["ipc"] = spec.ipc_mode
    health, why_not = compose_healthcheck(s)
    if health is not None:
        doc["healthcheck"] = health
    elif why_not:
        notes.append(why_not)
    for m in spec.mounts:
        notes.append(f"{s.name}: mounts {m.source} of this machine at {m.target}: the file "
                     "runs as it is only where that path exists")
    if spec.exposed:
        warnings.append(f"{s.name} is published on {spec.bind}:{spec.host_port}: reachable from "
                     "the network, unauthenticated, and Docker's ports bypass host firewalls")
    return doc


def model_key(ref: str, taken: set[str]) -> str:
    """A ``models:`` key for a model reference: its name without registry, namespace and
    tag (``ai/smollm2:360M-Q4_K_M`` -> ``smollm2``), made unique."""
    name = ref.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()
    base = MODEL_NAME_RE.sub("-", name).strip("-._") or "model"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def env_prefix(key: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", key.upper()).strip("_") or "MODEL"


def _models(services: list[Service], notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the top-level ``models:``, the grants a service copies into its own ``models:``)."""
    runners = [s for s in services if s.kind == RUNNER]
    if not runners:
        raise UsageError(
            "--models declares Docker Model Runner models, and this export has no Model "
            "Runner", "Export model-runner too: `llmctl export compose model-runner --models "
            "--model ai/smollm2`.")
    refs = sorted({m for s in runners for m in (*s.models, *s.pulled)})
    if not refs:
        raise UsageError(
            "--models: no Model Runner model to declare",
            "Name one with --model (e.g. --model ai/smollm2), or pull one into the running "
            "runner first (`llmctl pull ai/smollm2`).")
    taken: set[str] = set()
    top: dict[str, Any] = {}
    grants: dict[str, Any] = {}
    for ref in refs:
        key = model_key(ref, taken)
        top[key] = {"model": ref}
        prefix = env_prefix(key)
        grants[key] = {"endpoint_var": f"{prefix}_URL", "model_var": f"{prefix}_MODEL"}
    notes.append("model-runner: with --models, Compose brings Model Runner up itself (Compose "
                 "2.38+ and the docker model plugin) and pulls the models: the runner is not "
                 "a service of its own. A service of yours gets them by copying "
                 "x-llmctl.models into its `models:`.")
    return top, grants


def compose(services: list[Service], *, models: bool = False,
            pins: Pins | None = None) -> ComposeDoc:
    """The Compose document for ``services`` (sorted by name)."""
    notes: list[str] = []
    warnings: list[str] = []
    doc: dict[str, Any] = {"services": {}}
    volumes: dict[str, Any] = {}
    x_services: dict[str, Any] = {}
    endpoints: dict[str, str] = {}
    commands: list[str] = []
    secrets: set[str] = set()
    published: dict[tuple[str, int], str] = {}
    configs: dict[str, Any] = {}
    by_name = {s.name: s for s in services}
    for s in services:
        if models and s.kind == RUNNER:
            continue  # Compose runs the runner for the models: element
        if s.role == ROLE_PROXY:  # `llmctl expose`'s proxy: llmctl.export.proxy
            server = by_name[s.workload.instance]
            doc["services"][s.name], config, text = compose_service(s, server, pins, notes,
                                                                    warnings)
            configs[config] = {"content": text}
        else:
            doc["services"][s.name] = _service_doc(s, pins, notes, warnings)
        secrets.update(s.secrets)
        for p in s.spec.ports:
            other = published.get((p.host_ip, p.host_port))
            if other:
                raise UsageError(
                    f"{other} and {s.name} would both publish {p.host_ip}:{p.host_port}",
                    "Export one of them with another --port.")
            published[(p.host_ip, p.host_port)] = s.name
        for v in s.spec.volumes:
            volumes[v.name] = {"name": v.name, "labels": {LABEL_MANAGED: "true",
                                                         LABEL_INSTANCE: s.name}}
        first = s.spec.ports[0]
        scheme = "https" if s.spec.labels.get("io.llmctl.tls") == "internal" else "http"
        url = f"{scheme}://{url_host(first.host_ip)}:{first.host_port}"
        endpoints[s.name] = url
        model = s.models[0] if s.models and s.kind != RUNNER else None
        commands.append(endpoint_command(url, model))
        if s.role == ROLE_PROXY:
            commands[-1] += f"{s.workload.api_path} --token-file FILE-WITH-{s.secrets[0]}"
        x_services[s.name] = {"api": s.workload.api, "url": url,
                              "base_url": url + s.workload.api_path,
                              "endpoint_command": commands[-1]}
    doc["networks"] = {NETWORK: {"name": NETWORK, "labels": {LABEL_MANAGED: "true"}}}
    if configs:
        doc["configs"] = configs
    if volumes:
        doc["volumes"] = volumes
    x: dict[str, Any] = {"version": X_VERSION, "services": x_services}
    if models:
        top, grants = _models(services, notes)
        doc["models"] = top
        x["models"] = grants
        url = f"http://127.0.0.1:{RUNNER_PORT}"
        endpoints[RUNNER] = url
        commands.append(endpoint_command(url))
        x["models_endpoint"] = {"url": url, "base_url": url + "/engines/v1",
                                "endpoint_command": commands[-1]}
    doc["x-llmctl"] = x
    for s in services:
        notes.extend(s.notes)
    return ComposeDoc(doc, endpoints, commands, sorted(secrets), notes, warnings)


def next_steps(path: str | None, secrets: list[str], *, models: bool,
               compose_v1: bool = True) -> list[str]:
    where = f"-f {path} " if path else "-f - "
    steps = []
    if secrets:
        steps.append(f"export {' '.join(f'{k}=...' for k in secrets)} (or write them in a "
                     ".env file beside the Compose file, mode 0600): the file names "
                     f"{', '.join(secrets)} and never holds a value")
    steps.append(f"docker compose {where}up -d")
    steps.append(f"docker compose {where}ps   (healthy once the model is loaded)")
    if not models and compose_v1:
        steps.append(f"Debian's docker-compose 1.29 runs it too: docker-compose {where}up -d")
    return steps
