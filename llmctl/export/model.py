"""The plain data of an export: services in, files and next steps out, and the forms' own
options checked where they enter (one clear error each)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import UsageError

if TYPE_CHECKING:
    from llmctl.plan import ContainerSpec
    from llmctl.targets.base import Workload

FORMATS = ("compose", "kube", "helm-values")
CHARTS = ("ollama", "model-runner", "vllm-stack")
ROLE_SERVER = "server"  # an LLM server (a profile, or Model Runner); `expose` adds "proxy"
RUNNER = "model-runner"  # the Model Runner target's name and kind (llmctl.targets.model_runner)
DEFAULT_STORAGE = "50Gi"
NO_STORAGE = "none"
DEFAULT_HF_SECRET = ("hf-token", "token")

# resource.Quantity's grammar (k8s.io/apimachinery): a decimal number, then a binary or
# decimal suffix, or an exponent. "50GB", "50gb", "-1Gi" are not quantities.
QUANTITY_RE = re.compile(
    r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[kMGTPE]|[eE][+-]?[0-9]+)?$")
# A DNS-1123 subdomain (Secret and claim names) and label (keys of a Secret are wider).
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class Service:
    """One container of an export, told once for every form: what a target runs
    (``workload``, its ``spec`` never None here) and where that came from."""

    name: str  # the instance: a Compose service, a Deployment
    workload: Workload
    role: str = ROLE_SERVER
    source: str = "profile"  # "profile", or "container NAME" (a managed container)
    endpoint: str | None = None  # where it answers on this machine now (a running container)
    # Secret variables it takes, never valued: those it was given and those its profile
    # declares (HF_TOKEN), so the export is the same whether this machine has them or not.
    secrets: tuple[str, ...] = ()
    models: tuple[str, ...] = ()  # the models it serves from the start (--model)
    pulled: tuple[str, ...] = ()  # models it holds now (read from the running server)
    notes: tuple[str, ...] = ()

    @property
    def spec(self) -> ContainerSpec:
        assert self.workload.spec is not None
        return self.workload.spec

    @property
    def kind(self) -> str:
        return self.workload.kind

    @property
    def container_port(self) -> int:
        return self.spec.ports[0].container_port


@dataclass(frozen=True)
class GpuRequest:
    """``--gpu nvidia:N | amd:N | none``: the GPUs of the machines the export is for, never
    this machine's."""

    vendor: str | None  # nvidia | amd | None (no GPU)
    count: int = 0

    @property
    def resource(self) -> str | None:
        """The extended resource name a device plugin announces."""
        return f"{self.vendor}.com/gpu" if self.vendor else None

    def __str__(self) -> str:
        return f"{self.vendor}:{self.count}" if self.vendor else "none"


def parse_gpu(value: str | None) -> GpuRequest | None:
    """``--gpu``; None when not given (the services say whether they need one)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "none":
        return GpuRequest(None)
    vendor, sep, count = text.partition(":")
    if vendor in ("nvidia", "amd") and (not sep or count.isdigit()):
        n = int(count) if sep else 1
        if n >= 1:
            return GpuRequest(vendor, n)
    raise UsageError(f"--gpu {value!r} is not nvidia:N, amd:N or none",
                     "Example: --gpu nvidia:1 (one NVIDIA GPU per pod), or --gpu none.")


def check_quantity(value: str, option: str = "--storage") -> str:
    """A Kubernetes quantity for a volume's size: more than zero bytes."""
    m = QUANTITY_RE.match(value)
    if m is None or float(m.group("num")) <= 0:
        raise UsageError(
            f"{option} {value!r} is not a size Kubernetes takes",
            "Give a number with a binary or decimal suffix, e.g. 50Gi or 100G (not 50GB); "
            f"`{option} none` mounts no claim (each pod downloads its models again).")
    return value


def check_storage(value: str | None) -> str | None:
    """``--storage SIZE|none``: None when not given (the default size)."""
    if value is None or value == NO_STORAGE:
        return value
    return check_quantity(value)


def check_name(value: str, option: str) -> str:
    if not DNS_SUBDOMAIN_RE.match(value) or len(value) > 253:
        raise UsageError(f"{option} {value!r} is not a Kubernetes name",
                         "Use lower-case letters, digits, '-' and '.', e.g. fast-ssd.")
    return value


def parse_secret_ref(value: str | None) -> tuple[str, str] | None:
    """``--hf-token-secret NAME/KEY``: the Secret and the key in it holding the token."""
    if value is None:
        return None
    name, sep, key = value.partition("/")
    if not sep or not DNS_SUBDOMAIN_RE.match(name) or not SECRET_KEY_RE.match(key):
        raise UsageError(
            f"--hf-token-secret {value!r} is not NAME/KEY",
            "Name a Secret and its key, e.g. --hf-token-secret hf-token/token; create it with "
            "`kubectl create secret generic hf-token --from-file=token=$HOME/.cache/"
            "huggingface/token`.")
    return name, key


@dataclass(frozen=True)
class KubeOptions:
    """`export kube` and `export helm-values`: the cluster side, all from flags."""

    namespace: str | None = None
    gpu: GpuRequest | None = None
    storage: str | None = None  # a quantity, "none", or None (DEFAULT_STORAGE)
    storage_class: str | None = None
    hf_token_secret: tuple[str, str] | None = None
    replicas: int = 1

    @property
    def storage_size(self) -> str | None:
        """The claim's size; None: no claim (``--storage none``)."""
        if self.storage == NO_STORAGE:
            return None
        return self.storage or DEFAULT_STORAGE

    @property
    def hf_secret(self) -> tuple[str, str]:
        return self.hf_token_secret or DEFAULT_HF_SECRET


def kube_options(*, namespace: str | None, gpu: str | None, storage: str | None,
                 storage_class: str | None, hf_token_secret: str | None,
                 replicas: int) -> KubeOptions:
    """The flags, checked before anything is read."""
    if namespace is not None and (not DNS_LABEL_RE.match(namespace) or len(namespace) > 63):
        raise UsageError(f"--namespace {namespace!r} is not a Kubernetes namespace name",
                         "Use lower-case letters, digits and '-' (at most 63), e.g. llm.")
    if replicas < 1:
        raise UsageError(f"--replicas {replicas} must be 1 or more")
    return KubeOptions(
        namespace=namespace, gpu=parse_gpu(gpu), storage=check_storage(storage),
        storage_class=check_name(storage_class, "--storage-class") if storage_class else None,
        hf_token_secret=parse_secret_ref(hf_token_secret), replicas=replicas)


@dataclass
class ExportFile:
    """One document (or a YAML stream) of the export: its text, what it holds (parsed, for
    ``--json``), and where it was written (None: not written, e.g. ``-o -``)."""

    name: str  # its file name (compose.yaml, ollama-deployment.yaml, values.yaml)
    text: str
    documents: list[Any]
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "documents": self.documents}


@dataclass
class ExportResult:
    """What `llmctl export FORM` made: the files, how to run them, and how to point the MCP
    client at the result (``llmctl endpoint write --endpoint URL``)."""

    format: str
    files: list[ExportFile]
    services: list[dict[str, Any]]  # name, target, source, endpoint, ...
    next_steps: list[str]
    endpoint_commands: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what makes the result unsafe
    written: list[str] = field(default_factory=list)
    stdout: bool = False  # -o -: the documents go to stdout

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "files": [f.to_dict() for f in self.files],
            "written": self.written, "services": self.services,
            "next_steps": self.next_steps, "endpoint_commands": self.endpoint_commands,
            "notes": self.notes, "warnings": self.warnings,
        }
