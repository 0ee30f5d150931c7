"""The authenticating proxy of `llmctl expose` in an export: one more
:class:`~llmctl.export.model.Service`, of role ``proxy``, beside the server it protects.

An export never holds the key. The proxy's Caddyfile (:func:`llmctl.expose.caddy.render` with
``key_env``) reads it from an environment variable named after the server
(``OLLAMA_PROXY_KEY`` for ``ollama``), named in the export with no value like every secret:
Compose takes it from the environment of `docker compose up` (or ``.env``), Kubernetes from a
Secret. Unset or shorter than 32 characters, the proxy lets nothing through (fail closed).

- Compose: the Caddy service on the ``llmctl`` network, published as here, its Caddyfile as
  a Compose config (``configs.content``, Compose 2.23+), the server reached by its container
  name. ``--tls internal`` stays: the certificate is for ``localhost`` and the proxy's
  container name (this machine's addresses mean nothing elsewhere: say so).
- Kubernetes: a ConfigMap with the Caddyfile, a Deployment, a ClusterIP Service; the server
  reached by its Service. Plain HTTP: TLS belongs to the cluster's ingress.
- Helm values: a chart runs the server only; the proxy is left out, and the export says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from llmctl.export.images import Pins, image_ref
from llmctl.export.model import Service
from llmctl.expose import caddy
from llmctl.expose.plan import (
    CONTAINER_PORT,
    LABEL_KEY_CREATED,
    LABEL_PROXY_FOR,
    LABEL_TLS,
    LABEL_URL_HOST,
    volume_name,
)
from llmctl.plan import ContainerSpec, PortBinding, VolumeMount
from llmctl.profiles import Readiness
from llmctl.targets.base import Workload

if TYPE_CHECKING:
    from llmctl.engine.model import ContainerInfo

ROLE_PROXY = "proxy"
TARGET = "proxy"  # the workload's target and kind: not a profile
CONFIG_TARGET = caddy.CONFIG_PATH
# Labels of the running proxy that describe this machine, not the proxy: not exported.
LOCAL_LABELS = (LABEL_KEY_CREATED, LABEL_URL_HOST)


def key_env(server: str) -> str:
    """The environment variable holding the key of ``server``'s proxy (OLLAMA_PROXY_KEY)."""
    return re.sub(r"[^A-Z0-9]+", "_", server.upper()).strip("_") + "_PROXY_KEY"


def proxy_for(info: ContainerInfo) -> str | None:
    """The instance a managed container is the proxy of (None: not a proxy)."""
    from llmctl.plan import LABEL_ROLE

    if info.labels.get(LABEL_ROLE) != ROLE_PROXY:
        return None
    return info.labels.get(LABEL_PROXY_FOR)


def proxy_service(info: ContainerInfo, server: Service) -> Service:
    """The running proxy ``info`` in front of ``server``, as a service of the export."""
    labels = {k: v for k, v in info.labels.items() if k not in LOCAL_LABELS}
    tls = labels.get(LABEL_TLS, "off")
    cport = CONTAINER_PORT.get(tls, CONTAINER_PORT["off"])
    published = next((p for p in info.ports if p.container_port == cport), None)
    ports = (PortBinding(published.host_ip, published.host_port, cport),) if published else \
        (PortBinding("127.0.0.1", cport, cport),)
    spec = ContainerSpec(
        name=info.name, instance=server.name, profile=TARGET, api=server.workload.api,
        image=info.image, command=(), env={}, ports=ports,
        volumes=((VolumeMount(volume_name(server.name), caddy.DATA_DIR),)
                 if tls == "internal" else ()),
        gpus=False, labels=labels)
    workload = Workload(target=TARGET, instance=server.name, api=server.workload.api,
                        api_path=server.workload.api_path, spec=spec,
                        readiness=Readiness("/", 401, None, 60.0), kind=TARGET)
    return Service(f"{server.name}-proxy", workload, role=ROLE_PROXY,
                   source=f"container {info.name}", secrets=(key_env(server.name),))


def _caddyfile(proxy: Service, upstream: str, *, tls: str, names: list[str]) -> str:
    return caddy.render(upstream=upstream, key=None, key_env=key_env(proxy.workload.instance),
                        port=CONTAINER_PORT[tls], tls=tls, names=names,
                        default_name=names[0] if names else None)


# --- Compose ---------------------------------------------------------------------------------
def compose_service(proxy: Service, server: Service, pins: Pins | None,
                    notes: list[str], warnings: list[str]) -> tuple[dict[str, Any], str, str]:
    """(the proxy's Compose service, the name of its config, the config's content)."""
    spec = proxy.spec
    tls = spec.labels.get(LABEL_TLS, "off")
    names = ["localhost", spec.name] if tls == "internal" else []
    text = _caddyfile(proxy, f"{server.spec.name}:{server.container_port}", tls=tls,
                      names=names)
    config = f"{spec.name}-caddyfile"
    doc: dict[str, Any] = {
        "image": image_ref(spec.image, pins),
        "container_name": spec.name,
        "restart": spec.restart,
        "networks": ["llmctl"],
        "labels": dict(spec.labels),
        "ports": [f"{'[' + p.host_ip + ']' if ':' in p.host_ip else p.host_ip}:{p.host_port}:"
                  f"{p.container_port}" for p in spec.ports],
        "environment": {key_env(server.name): None},
        "configs": [{"source": config, "target": CONFIG_TARGET}],
        "depends_on": [server.name],
    }
    if spec.volumes:
        doc["volumes"] = [{"type": "volume", "source": v.name, "target": v.target}
                          for v in spec.volumes]
    if tls == "internal":
        notes.append(f"{proxy.name}: its certificate (Caddy's own CA, made where it runs) is for "
                     f"localhost and {spec.name}; add the server's host name to the site "
                     "addresses of its Caddyfile for other machines, and give them the CA "
                     f"(/data/caddy/pki/authorities/local/root.crt in {spec.name})")
    elif spec.exposed:
        warnings.append(f"{proxy.name} is published on {spec.bind}:{spec.host_port} with TLS "
                        "off: the key travels in clear text on the network")
    notes.append(f"{proxy.name}: the authenticating proxy in front of {server.name} (`llmctl "
                 f"expose`); its key comes from {key_env(server.name)} (unset: every request "
                 "gets 401); its Caddyfile is a Compose config (configs.content, Compose 2.23+)")
    # Compose interpolates $ in every value (a lone one is an error): written $$, Caddy
    # gets its own {$VAR} and the regexp's $.
    return doc, config, text.replace("$", "$$")


# --- Kubernetes ------------------------------------------------------------------------------
def kube_objects(proxy: Service, server: Service, *, name: str, server_name: str,
                 labels: dict[str, str], selector: dict[str, str], namespace: str | None,
                 pins: Pins | None, secrets: list[tuple[str, str, str]],
                 notes: list[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The proxy's ConfigMap, Deployment and Service (``name``); the server is reached at its
    Service ``server_name``."""
    spec = proxy.spec
    port = CONTAINER_PORT["off"]
    text = _caddyfile(proxy, f"{server_name}:{server.container_port}", tls="off", names=[])
    meta: dict[str, Any] = {"name": name, "labels": labels}
    cm_meta = {**meta, "name": f"{name}-caddyfile"}
    if namespace:
        meta["namespace"] = cm_meta["namespace"] = namespace
    var = key_env(server.name)
    secret = (f"{name}-key", "key", var)
    secrets.append(secret)
    container: dict[str, Any] = {
        "name": name, "image": image_ref(spec.image, pins), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret[0],
                                                              "key": secret[1]}}}],
        "volumeMounts": [{"name": "caddyfile", "mountPath": "/etc/caddy", "readOnly": True},
                         {"name": "data", "mountPath": caddy.DATA_DIR},
                         {"name": "config", "mountPath": "/config"}],
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        # 401 without the key is the proxy answering (Kubernetes takes 200-399 only: TCP).
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 30},
    }
    pod = {"containers": [container], "enableServiceLinks": False,
           "automountServiceAccountToken": False,
           "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
           "volumes": [{"name": "caddyfile", "configMap": {"name": cm_meta["name"]}},
                       {"name": "data", "emptyDir": {}}, {"name": "config", "emptyDir": {}}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                  "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                           "template": {"metadata": {"labels": labels}, "spec": pod}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
               "spec": {"type": "ClusterIP", "selector": selector,
                        "ports": [{"name": "http", "port": port, "targetPort": "http",
                                   "protocol": "TCP"}]}}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": cm_meta,
                 "data": {"Caddyfile": text}}
    notes.append(f"{proxy.name}: the authenticating proxy in front of {server.name} (`llmctl "
                 f"expose`), plain HTTP inside the cluster (TLS is the ingress's); its key "
                 f"comes from the Secret {secret[0]} (missing: the pod does not start)")
    return [(f"{name}-configmap.yaml", [configmap]), (f"{name}-deployment.yaml", [deployment]),
            (f"{name}-service.yaml", [service])]
