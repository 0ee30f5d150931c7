"""`llmctl export helm-values --chart ollama|model-runner|vllm-stack`: values for a
maintained chart that runs the same server (image tag, models, GPU, storage, secrets).

The keys written are the charts' documented values: the Ollama chart (otwld/ollama-helm:
``image.*``, ``ollama.gpu.*``, ``ollama.models.pull``, ``persistentVolume.*``,
``updateStrategy.type``, ``extraEnv``, ``securityContext``, ``podSecurityContext``), Docker
Model Runner's chart (docker/model-runner ``charts/docker-model-runner``: ``image.*``,
``gpu.*``, ``storage.*``, ``modelInit.*``) and vLLM's production stack
(``servingEngineSpec.modelSpec[]`` with ``hf_token`` as a Secret reference). docs/export.md
lists them with the charts' descriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmctl.errors import UsageError
from llmctl.export.images import Pins, image_ref, repository, split_ref
from llmctl.export.kube import check_movable, gpu_for, kube_name, shm_quantity
from llmctl.export.model import CHARTS, RUNNER, KubeOptions, Service

CHART_KINDS = {"ollama": ("ollama",), "model-runner": (RUNNER,), "vllm-stack": ("vllm",)}
CHART_FOR_KIND = {"ollama": "ollama", RUNNER: "model-runner", "vllm": "vllm-stack"}
# The production stack requires CPU and memory requests; these are starting values for one
# vLLM pod, not this machine's: the values file says to adjust them.
VLLM_CPU = 4
VLLM_MEMORY = "16Gi"


@dataclass
class HelmDoc:
    values: dict[str, Any]
    comments: list[str]
    release: str
    install: list[str]  # the commands that install the chart with the values file
    port_forward: str
    endpoint_command: str
    secrets: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_chart(chart: str, services: list[Service]) -> None:
    if chart not in CHARTS:
        raise UsageError(f"--chart {chart!r} is not one of {', '.join(CHARTS)}")
    for s in services:
        if s.kind not in CHART_KINDS[chart]:
            other = CHART_FOR_KIND.get(s.kind)
            what = f"a {s.kind} server" if s.name == s.workload.target else \
                f"{s.workload.target}, a {s.kind} server"
            raise UsageError(
                f"--chart {chart} does not run {s.name} ({what})",
                f"Use --chart {other}." if other else
                f"No chart llmctl knows runs {s.kind}: `llmctl export kube {s.name} -o DIR` "
                "writes the manifests instead.")
    if chart != "vllm-stack" and len(services) != 1:
        raise UsageError(f"--chart {chart} runs one server; got {len(services)}",
                         "Name one: `llmctl export helm-values NAME --chart ...`.")


def _storage(options: KubeOptions, s: Service, *, required: bool) -> str | None:
    size = options.storage_size
    if size is None and required:
        raise UsageError(f"--storage none: the chart always keeps {s.name}'s models on a "
                         "volume", "Give its size, e.g. --storage 50Gi.")
    if size is not None and options.replicas > 1:
        raise UsageError(
            f"--replicas {options.replicas}: the pods of {s.name} would share a ReadWriteOnce "
            "claim, which one node mounts at a time",
            "Use --replicas 1" + ("." if required else
                                  ", or --storage none (each pod downloads its models)."))
    return size


def _security() -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"seccompProfile": {"type": "RuntimeDefault"}},
            {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})


def _ollama(s: Service, options: KubeOptions, pins: Pins | None, doc: HelmDoc) -> None:
    repo, tag = split_ref(image_ref(s.spec.image, pins))
    gpu = gpu_for(s, options, doc.notes)
    if gpu.vendor == "amd" and repository(s.spec.image) == "ollama/ollama" \
            and "rocm" not in tag and "@" not in tag:
        tag += "-rocm"  # Ollama publishes its AMD build as VERSION-rocm
        doc.notes = [n for n in doc.notes if "not a ROCm build" not in n]
        doc.notes.append(f"{s.name}: AMD GPUs: the image tag becomes {tag}")
    ollama: dict[str, Any] = {"gpu": {"enabled": gpu.vendor is not None}}
    if gpu.vendor:
        ollama["gpu"].update({"type": gpu.vendor, "number": gpu.count})
    if s.pulled:
        ollama["models"] = {"pull": list(s.pulled)}
    size = _storage(options, s, required=False)
    volume: dict[str, Any] = {"enabled": size is not None}
    if size is not None:
        volume["size"] = size
        if options.storage_class:
            volume["storageClass"] = options.storage_class
    pod_security, security = _security()
    doc.values = {
        "image": {"repository": repo, "tag": tag},
        "replicaCount": options.replicas,
        "ollama": ollama,
        "persistentVolume": volume,
        "securityContext": security,
        "podSecurityContext": pod_security,
    }
    if size is not None:
        doc.values["updateStrategy"] = {"type": "Recreate"}
    env = [{"name": k, "value": v} for k, v in sorted(s.spec.env.items())]
    if env:
        doc.values["extraEnv"] = env
    doc.release = "ollama"
    doc.install = ["helm repo add ollama-helm https://otwld.github.io/ollama-helm/",
                   "helm repo update"]
    port = s.spec.host_port  # where the server answers here: the same on the laptop
    doc.port_forward = f"kubectl port-forward service/ollama {port}:11434"
    doc.endpoint_command = f"llmctl endpoint write --endpoint http://127.0.0.1:{port}"


def _runner(s: Service, options: KubeOptions, pins: Pins | None, doc: HelmDoc) -> None:
    repo, tag = split_ref(image_ref(s.spec.image, pins))
    gpu = gpu_for(s, options, doc.notes)
    size = _storage(options, s, required=True)
    storage: dict[str, Any] = {"size": size}
    if options.storage_class:
        storage["storageClass"] = options.storage_class
    models = sorted({*s.models, *s.pulled})
    runner_gpu: dict[str, Any] = {"enabled": gpu.vendor is not None}
    if gpu.vendor:
        runner_gpu.update({"vendor": gpu.vendor, "count": gpu.count})
    doc.values = {
        "image": {"repository": repo, "tag": tag},
        "replicaCount": options.replicas,
        "gpu": runner_gpu,
        "storage": storage,
        "modelInit": {"enabled": bool(models), "models": models},
    }
    doc.release = "docker-model-runner"
    doc.install = ["git clone https://github.com/docker/model-runner   (the chart is in "
                   "charts/docker-model-runner)"]
    port = s.spec.host_port
    doc.port_forward = f"kubectl port-forward service/docker-model-runner {port}:80"
    doc.endpoint_command = f"llmctl endpoint write --endpoint http://127.0.0.1:{port}"


def _model_args(s: Service) -> tuple[str, list[str]]:
    """(the model, the other engine arguments) of a vLLM service."""
    args = list(s.spec.command)
    model = s.models[0] if s.models else ""
    for i in range(len(args) - 1):
        if args[i] == "--model" and args[i + 1] == model:
            del args[i:i + 2]
            break
    return model, args


def _vllm(services: list[Service], options: KubeOptions, pins: Pins | None,
          doc: HelmDoc) -> None:
    specs = []
    gpus = set()
    secret, skey = options.hf_secret
    for s in services:
        repo, tag = split_ref(image_ref(s.spec.image, pins))
        gpu = gpu_for(s, options, doc.notes)
        gpus.add(gpu.vendor)
        model, extra = _model_args(s)
        spec: dict[str, Any] = {
            "name": kube_name(s.name), "repository": repo, "tag": tag, "modelURL": model,
            "replicaCount": options.replicas, "requestCPU": VLLM_CPU,
            "requestMemory": VLLM_MEMORY, "requestGPU": gpu.count,
            "pvcStorage": _storage(options, s, required=True),
        }
        if gpu.vendor == "amd":
            spec["requestGPUType"] = "amd.com/gpu"
        if options.storage_class:
            spec["storageClass"] = options.storage_class
        if "HF_TOKEN" in s.secrets:
            spec["hf_token"] = {"secretName": secret, "secretKey": skey}
            doc.secrets.append((secret, skey, "HF_TOKEN"))
        others = [k for k in s.secrets if k != "HF_TOKEN"]
        if others:
            spec["envFromSecret"] = {"name": f"{kube_name(s.name)}-env"}
            doc.secrets += [(f"{kube_name(s.name)}-env", k, k) for k in others]
        if extra:
            spec["vllmConfig"] = {"extraArgs": extra}
        env = [{"name": k, "value": v} for k, v in sorted(s.spec.env.items())]
        if env:
            spec["env"] = env
        if s.spec.shm_size:
            spec["shmSize"] = shm_quantity(s.spec.shm_size)
        specs.append(spec)
    doc.values = {"servingEngineSpec": {
        "runtimeClassName": "nvidia" if gpus == {"nvidia"} else "",
        "modelSpec": specs,
    }}
    doc.comments.append(f"requestCPU {VLLM_CPU} and requestMemory {VLLM_MEMORY} are starting "
                        "values the chart requires, not this machine's: adjust them.")
    doc.release = "vllm"
    doc.install = ["helm repo add vllm https://vllm-project.github.io/production-stack",
                   "helm repo update"]
    doc.port_forward = "kubectl port-forward service/vllm-router-service 30080:80"
    doc.endpoint_command = "llmctl endpoint write --endpoint http://127.0.0.1:30080"


CHART_REFS = {"ollama": "ollama-helm/ollama", "model-runner": "./model-runner/charts/"
              "docker-model-runner", "vllm-stack": "vllm/vllm-stack"}


def helm_values(services: list[Service], chart: str, options: KubeOptions, *,
                pins: Pins | None = None) -> HelmDoc:
    check_chart(chart, services)
    for s in services:
        check_movable(s)
    doc = HelmDoc({}, [f"Values for the {chart} chart."], "", [], "", "")
    if chart == "ollama":
        _ollama(services[0], options, pins, doc)
    elif chart == "model-runner":
        _runner(services[0], options, pins, doc)
    else:
        _vllm(services, options, pins, doc)
    for s in services:
        doc.notes += list(s.notes)
    doc.secrets = sorted(set(doc.secrets))
    return doc


def next_steps(doc: HelmDoc, chart: str, path: str | None, namespace: str | None) -> list[str]:
    ns = f" -n {namespace} --create-namespace" if namespace else ""
    in_ns = f" -n {namespace}" if namespace else ""
    steps = list(doc.install)
    for secret, key, var in doc.secrets:
        source = "$HOME/.cache/huggingface/token" if var == "HF_TOKEN" else f"FILE-WITH-{var}"
        steps.append(f"kubectl{in_ns} create secret generic {secret} --from-file={key}={source}"
                     f"   ({var})")
    steps.append(f"helm install {doc.release} {CHART_REFS[chart]} -f {path or 'VALUES.yaml'}"
                 f"{ns}")
    steps.append(doc.port_forward.replace("kubectl ", f"kubectl{in_ns} ", 1))
    return steps
