"""`llmctl export kube`: a Deployment, a Service and a claim per server, and a
``kustomization.yaml`` so users patch instead of editing.

- Deployment: one container (the image through :func:`image_ref`, the command's arguments,
  environment without secrets: a secret comes from a Secret by ``secretKeyRef``), the
  profile's readiness as probes (a long ``startupProbe`` for model loading), GPUs in
  ``limits`` only (``nvidia.com/gpu`` / ``amd.com/gpu``, counted: never "all"),
  ``strategy: Recreate`` with a ReadWriteOnce claim (two pods never hold it at once), no
  service links (a Service named ``vllm`` would otherwise set ``VLLM_PORT=tcp://...``, which
  vLLM reads as its own setting), no service account token, a restrictive security context.
- Service: ClusterIP on the server's port; never a hostPort or a node port.
- PersistentVolumeClaim: the model store (``--storage``, ``--storage-class``), or an
  ``emptyDir`` with ``--storage none``.

Hardware comes from flags only (``--gpu``): nothing of this machine's GPUs or paths. A host
folder or a ``--model-file`` cannot be moved to a cluster: that is an error, not a hostPath.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmctl.errors import LlmctlError, UsageError
from llmctl.export.health import kube_probes
from llmctl.export.images import Pins, image_ref, tag_of
from llmctl.export.kube_checks import check_manifests
from llmctl.export.model import RUNNER, GpuRequest, KubeOptions, Service
from llmctl.export.proxy import ROLE_PROXY, kube_objects

PORT_NAME = "http"
MANAGED_BY = "llmctl"
SHM_UNITS = {"b": "", "k": "Ki", "m": "Mi", "g": "Gi"}
# The image's own user, where it is not root (reference/server-apis.md §2.5).
NON_ROOT_IMAGES = {RUNNER: "modelrunner"}


@dataclass
class KubeDocs:
    files: list[tuple[str, list[dict[str, Any]]]]  # (file name, objects in it)
    endpoint_commands: list[str]
    port_forwards: list[str]
    secrets: list[tuple[str, str, str]]  # (Secret, key, the variable it feeds)
    notes: list[str] = field(default_factory=list)


def kube_name(name: str) -> str:
    """An instance name as a Kubernetes name (a DNS-1035 label: a Service's name must be):
    lower case, '-' for '_' and '.', a letter first, at most 63 characters."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = f"llm-{out}".rstrip("-")
    return out[:63].rstrip("-")


def shm_quantity(size: str) -> str:
    """Docker's ``--shm-size`` (1g, 512m: binary units) as a Kubernetes quantity."""
    number, unit = (size[:-1], size[-1]) if size[-1].isalpha() else (size, "b")
    return f"{number}{SHM_UNITS[unit.lower()]}"


def _labels(s: Service, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": kube_name(s.workload.target),
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "llm-server",
            "app.kubernetes.io/managed-by": MANAGED_BY}


def _selector(name: str, s: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": kube_name(s.workload.target),
            "app.kubernetes.io/instance": name}


def _meta(name: str, labels: dict[str, str], namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return meta


def check_movable(s: Service) -> None:
    """Refuse what only this machine has: host folders and model files."""
    for m in s.spec.mounts:
        if m.read_only:
            raise UsageError(
                f"{s.name}: --model-file {m.source} is a file on this machine; a cluster "
                "cannot read it",
                "Let the server download its model (e.g. --model ORG/REPO for llamacpp), or "
                "bake the file into an image of your own and export with --image.")
        raise UsageError(
            f"{s.name}: --volume {m.source} is a folder of this machine; a cluster cannot "
            "mount it",
            "Use a named volume (the export makes a PersistentVolumeClaim of it) and copy "
            "the data into the claim after `kubectl apply`.")


def gpu_for(s: Service, options: KubeOptions, notes: list[str]) -> GpuRequest:
    if options.gpu is not None:
        gpu = options.gpu
    elif s.spec.gpus:
        gpu = GpuRequest("nvidia", 1)
        notes.append(f"{s.name}: one NVIDIA GPU per pod ({s.workload.target} "
                     f"{'needs' if s.kind in ('vllm', 'tgi') else 'was given'} a GPU); "
                     "--gpu nvidia:N|amd:N|none says how many")
    else:
        gpu = GpuRequest(None)
    if gpu.vendor == "amd" and "rocm" not in tag_of(s.spec.image):
        notes.append(f"{s.name}: amd.com/gpu is asked, but {s.spec.image} is not a ROCm "
                     "build: give the ROCm image with --image (e.g. Ollama's :VERSION-rocm)")
    return gpu


def _env(s: Service, options: KubeOptions, name: str,
         secrets: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(s.spec.env.items())]
    for key in s.secrets:
        if key == "HF_TOKEN":
            secret, skey = options.hf_secret
            optional = options.hf_token_secret is None
        else:
            secret, skey, optional = f"{name}-env", key, True
        ref: dict[str, Any] = {"name": secret, "key": skey}
        if optional:
            ref["optional"] = True  # the pod starts without it, as `up` does
        env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        secrets.append((secret, skey, key))
    return sorted(env, key=lambda e: e["name"])


def _security(s: Service, notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod securityContext, container securityContext): no privilege escalation, every
    capability dropped, the runtime's seccomp profile. None of these servers binds a port
    below 1024 or needs a capability."""
    pod = {"seccompProfile": {"type": "RuntimeDefault"}}
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    user = NON_ROOT_IMAGES.get(s.kind)
    if user:
        notes.append(f"{s.name}: runs as its image's user {user} (not root); runAsNonRoot is "
                     "not set because Kubernetes cannot verify a user given by name")
    else:
        notes.append(f"{s.name}: the {s.workload.target} image runs as root (it keeps its "
                     "data under /root): runAsNonRoot is not set; privilege escalation and "
                     "every capability are dropped")
    return pod, container


def _one(s: Service, options: KubeOptions, pins: Pins | None,
         docs: KubeDocs) -> list[tuple[str, list[dict[str, Any]]]]:
    check_movable(s)
    spec = s.spec
    name = kube_name(s.name)
    if name != s.name:
        docs.notes.append(f"{s.name}: named {name} in Kubernetes")
    labels = _labels(s, name)
    ns = options.namespace
    gpu = gpu_for(s, options, docs.notes)
    size = options.storage_size
    claims: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for v in spec.volumes:
        vname = kube_name(v.name)
        mounts.append({"name": vname, "mountPath": v.target})
        if size is None:
            volumes.append({"name": vname, "emptyDir": {}})
            continue
        claim: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if options.storage_class:
            claim["storageClassName"] = options.storage_class
        claims.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": _meta(vname, labels, ns), "spec": claim})
        volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": vname}})
    if claims and options.replicas > 1:
        raise UsageError(
            f"--replicas {options.replicas}: the pods of {s.name} would share a ReadWriteOnce "
            "claim, which one node mounts at a time",
            "Use --replicas 1, or --storage none (each pod downloads its models into its own "
            "emptyDir).")
    if spec.shm_size or spec.ipc_mode == "host":
        shm: dict[str, Any] = {"medium": "Memory"}
        if spec.shm_size:
            shm["sizeLimit"] = shm_quantity(spec.shm_size)
        else:
            docs.notes.append(f"{s.name}: shared memory (Docker's --ipc host) is an emptyDir in "
                              "memory at /dev/shm, not the node's IPC namespace")
        volumes.append({"name": "shm", "emptyDir": shm})
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})
    probes, probe_notes = kube_probes(s)
    docs.notes += probe_notes
    pod_security, container_security = _security(s, docs.notes)
    container: dict[str, Any] = {
        "name": name, "image": image_ref(spec.image, pins), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": s.container_port, "protocol": "TCP"}],
        "securityContext": container_security, **probes,
    }
    if spec.command:
        container["args"] = list(spec.command)
    env = _env(s, options, name, docs.secrets)
    if env:
        container["env"] = env
    if mounts:
        container["volumeMounts"] = mounts
    if gpu.resource:
        container["resources"] = {"limits": {gpu.resource: gpu.count}}
    pod: dict[str, Any] = {
        "containers": [container], "enableServiceLinks": False,
        "automountServiceAccountToken": False, "securityContext": pod_security,
    }
    if volumes:
        pod["volumes"] = volumes
    deployment_spec: dict[str, Any] = {
        "replicas": options.replicas,
        "selector": {"matchLabels": _selector(name, s)},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if claims:
        deployment_spec["strategy"] = {"type": "Recreate"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": _meta(name, labels, ns), "spec": deployment_spec}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, labels, ns),
               "spec": {"type": "ClusterIP", "selector": _selector(name, s),
                        "ports": [{"name": PORT_NAME, "port": s.container_port,
                                   "targetPort": PORT_NAME, "protocol": "TCP"}]}}
    files = [(f"{name}-deployment.yaml", [deployment]), (f"{name}-service.yaml", [service])]
    if claims:
        files.append((f"{name}-pvc.yaml", claims))
    port, local = s.container_port, s.spec.host_port  # the port llmctl uses here
    in_ns = f" -n {ns}" if ns else ""
    docs.port_forwards.append(f"kubectl{in_ns} port-forward service/{name} {local}:{port}")
    model = s.models[0] if s.models and s.kind != RUNNER else None
    cmd = f"llmctl endpoint write --endpoint http://127.0.0.1:{local}"
    cluster = f"http://{name}.{ns or 'NAMESPACE'}.svc.cluster.local:{port}"
    docs.endpoint_commands.append(cmd + (f" --model {model}" if model else "")
                                  + f" --endpoint-container {cluster}")
    return files


def _proxy(s: Service, services: list[Service], options: KubeOptions, pins: Pins | None,
           docs: KubeDocs) -> list[tuple[str, list[dict[str, Any]]]]:
    server = next(x for x in services if x.name == s.workload.instance)
    name, server_name = kube_name(s.name), kube_name(server.name)
    labels = {**_labels(s, name), "app.kubernetes.io/component": "auth-proxy"}
    files = kube_objects(s, server, name=name, server_name=server_name, labels=labels,
                         selector=_selector(name, s), namespace=options.namespace, pins=pins,
                         secrets=docs.secrets, notes=docs.notes)
    in_ns = f" -n {options.namespace}" if options.namespace else ""
    local = s.spec.host_port
    docs.port_forwards.append(f"kubectl{in_ns} port-forward service/{name} {local}:8080")
    docs.endpoint_commands.append(
        f"llmctl endpoint write --endpoint http://127.0.0.1:{local}{s.workload.api_path} "
        f"--token-file FILE-WITH-{s.secrets[0]}")
    return files


def kube(services: list[Service], options: KubeOptions, *,
         pins: Pins | None = None) -> KubeDocs:
    """The objects for ``services``, checked (:mod:`llmctl.export.kube_checks`)."""
    docs = KubeDocs([], [], [], [])
    names: dict[str, str] = {}
    for s in services:
        name = kube_name(s.name)
        if name in names:
            raise UsageError(f"{names[name]} and {s.name} are both {name} in Kubernetes",
                             "Export them apart, or start one under another --name.")
        names[name] = s.name
        if s.role == ROLE_PROXY:  # `llmctl expose`'s proxy: llmctl.export.proxy
            docs.files += _proxy(s, services, options, pins, docs)
        else:
            docs.files += _one(s, options, pins, docs)
        docs.notes += list(s.notes)
    objects = [d for _, ds in docs.files for d in ds]
    problems = check_manifests(objects)
    if problems:
        raise LlmctlError("the Kubernetes objects llmctl made are wrong: " + "; ".join(problems),
                          "This is a bug in llmctl: please report it with the command you ran.")
    docs.files.sort(key=lambda f: f[0])
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": sorted(f for f, _ in docs.files)}
    if options.namespace:
        kustomization["namespace"] = options.namespace
    docs.files.append(("kustomization.yaml", [kustomization]))
    docs.secrets = sorted(set(docs.secrets))
    return docs


def next_steps(docs: KubeDocs, folder: str | None, namespace: str | None) -> list[str]:
    in_ns = f" -n {namespace}" if namespace else ""
    steps = []
    if namespace:
        steps.append(f"kubectl create namespace {namespace}   (once)")
    for secret, key, var in docs.secrets:
        source = "$HOME/.cache/huggingface/token" if var == "HF_TOKEN" else f"FILE-WITH-{var}"
        steps.append(f"kubectl{in_ns} create secret generic {secret} "
                     f"--from-file={key}={source}   (for {var})")
    steps.append(f"kubectl apply -k {folder}" if folder else "kubectl apply -f -")
    for name in sorted({f.rsplit('-deployment.yaml', 1)[0] for f, _ in docs.files
                        if f.endswith("-deployment.yaml")}):
        steps.append(f"kubectl{in_ns} rollout status deployment/{name} --timeout 30m")
    steps += docs.port_forwards
    return steps
