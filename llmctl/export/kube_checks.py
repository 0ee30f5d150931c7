"""Checks on generated Kubernetes objects that the API schemas do not make.

The OpenAPI schemas (``kubernetes-validate --strict`` in the tests) check shapes and types;
they accept ``nvidia.com/gpu: all``, a claim of ``50GB``, a Service whose selector matches
no pod, a port name of 20 characters, a probe on a port that does not exist. The API server
or the scheduler would refuse those later, on the cluster; this refuses them here. Every
export runs these on what it made: a problem is a bug in llmctl, said as such.
"""

from __future__ import annotations

import re
from typing import Any

from llmctl.export.model import DNS_SUBDOMAIN_RE, QUANTITY_RE, SECRET_KEY_RE

DNS_1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# IANA_SVC_NAME (validation.IsValidPortName): 1-15 characters, a-z 0-9 '-', at least one
# letter, no leading, trailing or double '-'.
PORT_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _quantity_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    m = QUANTITY_RE.match(str(value))
    return m is not None and float(m.group("num")) > 0


def _port_name_ok(name: str) -> bool:
    return (len(name) <= 15 and bool(PORT_NAME_RE.match(name)) and "--" not in name
            and any(c.isalpha() for c in name))


def _check_container(where: str, c: dict[str, Any], volumes: set[str]) -> list[str]:
    problems = []
    names = []
    for p in c.get("ports") or []:
        if "hostPort" in p:
            problems.append(f"{where}: hostPort {p['hostPort']}: a Service exposes a server, "
                            "never a port of the node")
        name = p.get("name")
        if name is not None:
            if not _port_name_ok(name):
                problems.append(f"{where}: port name {name!r} is not 1-15 characters of a-z, "
                                "0-9 and '-' with a letter")
            names.append(name)
    if len(names) != len(set(names)):
        problems.append(f"{where}: port names are not unique")
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = ((c.get(kind) or {}).get("httpGet") or {}).get("port")
        if isinstance(port, str) and port not in names:
            problems.append(f"{where}: {kind} asks port {port!r}, which the container does "
                            "not name")
    resources = c.get("resources") or {}
    for section in ("requests", "limits"):
        for key, value in (resources.get(section) or {}).items():
            if key in GPU_RESOURCES:
                if section == "requests":
                    problems.append(f"{where}: {key} belongs in limits only (an extended "
                                    "resource's request is its limit)")
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    problems.append(f"{where}: {key}: {value!r} is not a whole number of "
                                    "GPUs (never 'all')")
            elif key in STANDARD_RESOURCES:
                if not _quantity_ok(value):
                    problems.append(f"{where}: {key}: {value!r} is not a quantity")
            else:
                problems.append(f"{where}: unknown resource name {key!r} (GPUs are "
                                f"{' or '.join(GPU_RESOURCES)})")
    for m in c.get("volumeMounts") or []:
        if m.get("name") not in volumes:
            problems.append(f"{where}: mounts volume {m.get('name')!r}, which the pod does "
                            "not declare")
    for e in c.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None and (not DNS_SUBDOMAIN_RE.match(str(ref.get("name", "")))
                                or not SECRET_KEY_RE.match(str(ref.get("key", "")))):
            problems.append(f"{where}: env {e.get('name')}: {ref!r} is not a Secret name "
                            "and key")
    return problems


def check_manifests(docs: list[dict[str, Any]]) -> list[str]:
    """Every problem found in ``docs`` (an export's objects), as ``Kind/name: what``."""
    problems: list[str] = []
    claims = {d["metadata"]["name"] for d in docs if d.get("kind") == "PersistentVolumeClaim"}
    pods: list[tuple[dict[str, str], set[str]]] = []  # (pod labels, port names)
    for d in docs:
        kind, name = d.get("kind"), (d.get("metadata") or {}).get("name", "")
        where = f"{kind}/{name}"
        if not DNS_SUBDOMAIN_RE.match(name) or len(name) > 253:
            problems.append(f"{where}: the name is not a DNS-1123 subdomain")
        if kind == "Service" and (not DNS_1035_RE.match(name) or len(name) > 63):
            problems.append(f"{where}: a Service name must be a DNS-1035 label")
        if kind == "PersistentVolumeClaim":
            size = (((d.get("spec") or {}).get("resources") or {}).get("requests") or {}) \
                .get("storage")
            if not _quantity_ok(size):
                problems.append(f"{where}: storage {size!r} is not a quantity")
        if kind != "Deployment":
            continue
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        if not match or any(labels.get(k) != v for k, v in match.items()):
            problems.append(f"{where}: selector.matchLabels does not match the pod labels")
        pod = template.get("spec") or {}
        volumes = set()
        for v in pod.get("volumes") or []:
            volumes.add(v.get("name"))
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"{where}: claim {claim!r} is not part of the export")
            size = (v.get("emptyDir") or {}).get("sizeLimit")
            if size is not None and not _quantity_ok(size):
                problems.append(f"{where}: emptyDir sizeLimit {size!r} is not a quantity")
        ports: set[str] = set()
        for c in pod.get("containers") or []:
            problems += _check_container(f"{where} container {c.get('name')}", c, volumes)
            ports.update(p["name"] for p in c.get("ports") or [] if p.get("name"))
        strategy = (spec.get("strategy") or {}).get("type")
        if (spec.get("replicas") or 1) > 1 and any(
                v.get("persistentVolumeClaim") for v in pod.get("volumes") or []):
            problems.append(f"{where}: several replicas cannot share a ReadWriteOnce claim")
        if strategy not in (None, "Recreate", "RollingUpdate"):
            problems.append(f"{where}: strategy {strategy!r}")
        pods.append((labels, ports))
    for d in docs:
        if d.get("kind") != "Service":
            continue
        where = f"Service/{d['metadata']['name']}"
        selector = (d.get("spec") or {}).get("selector") or {}
        matched = [ports for labels, ports in pods
                   if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not matched:
            problems.append(f"{where}: the selector matches no pod of the export")
        for p in (d.get("spec") or {}).get("ports") or []:
            target = p.get("targetPort")
            if isinstance(target, str) and not any(target in ports for ports in matched):
                problems.append(f"{where}: targetPort {target!r} is no port of its pods")
            if "hostPort" in p or "nodePort" in p:
                problems.append(f"{where}: exposes a node port; llmctl writes ClusterIP only")
        if (d.get("spec") or {}).get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"{where}: type is not ClusterIP")
    return problems
