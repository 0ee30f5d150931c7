"""`llmctl export compose|kube|helm-values`: hand what llmctl runs to Compose, Kubernetes
or a maintained Helm chart (the core is llmctl.export)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from llmctl.cli.options import JSON_OPTION
from llmctl.cli.output import emit_json, err, out, warn, write_document

if TYPE_CHECKING:
    from llmctl.export.model import ExportResult, GpuRequest
    from llmctl.export.sources import Collected
    from llmctl.targets.base import UpRequest

export_app = typer.Typer(
    help="Hand what llmctl runs to Compose, Kubernetes or a Helm chart (deterministic files).",
    no_args_is_help=True,
)

NAMES_HELP = ("Profiles, model-runner, or running instances (default: every server llmctl "
              "runs). A running instance is exported as it runs; with `up`'s options, the "
              "profile as `up` would run it.")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


# --- `up`'s options, shared -------------------------------------------------------------------
def _names() -> Any:
    return typer.Argument(None, help=NAMES_HELP, show_default=False, metavar="[NAME]...")


def _opt(*decls: str, help: str, default: Any = None) -> Any:
    return typer.Option(default, *decls, help=help)


PORT_HELP = "Host port to publish on (as `up --port`)."
BIND_HELP = "Host IP to publish on (as `up --bind`); anything but loopback exposes it."
NAME_HELP = "Instance name (as `up --name`)."
VOLUME_HELP = "Named volume, or a host folder (as `up --volume`; not for a cluster)."
IMAGE_HELP = "Image with an explicit tag (as `up --image`)."
ENV_HELP = ("KEY=VALUE for the server (as `up --env`). Secrets are named in the output, never "
            "valued.")
MODEL_HELP = ("Model the server loads (as `up --model`); for model-runner, a model to "
              "declare (--models, the chart's modelInit).")
MODEL_FILE_HELP = "A GGUF file on this machine (as `up --model-file`; not for a cluster)."
OUTPUT_HELP = "Where to write ('-': stdout)."
KUBE_GPU_HELP = "GPUs per pod on the cluster: nvidia:N, amd:N or none (default: from the profile)."
STORAGE_HELP = "Size of the model store's claim, e.g. 50Gi (none: an emptyDir)."
STORAGE_CLASS_HELP = "StorageClass of the claim (default: the cluster's)."
HF_SECRET_HELP = "Secret and key holding the Hugging Face token: NAME/KEY (default hf-token/token)."
REPLICAS_HELP = "Pods per server (more than 1 needs --storage none)."
LOCAL_PORT_HELP = ("Port on this machine for `kubectl port-forward` and the endpoint "
                   "(as `up --port`).")
NAMESPACE_HELP = "Namespace for the objects (default: kubectl's current one)."
PIN_HELP = ("Write each image by its digest from the lock file (`llmctl lock`), not by its "
            "tag.")
LOCK_HELP = "The lock file --pin-digests reads."


def _request(*, port: int | None = None, bind: str = "127.0.0.1", name: str | None = None,
             volume: str | None = None, image: str | None = None, gpus: str = "auto",
             env: list[str] | None = None, model: str | None = None,
             model_file: str | None = None, tcp: int | None = None,
             gpu: str = "auto") -> tuple[UpRequest, bool]:
    """`up`'s options as a request template, and whether any was given."""
    from llmctl.targets.base import UpRequest

    request = UpRequest(name="", port=port, bind=bind, instance=name, volume=volume,
                        image=image, gpus=gpus, env=tuple(env or ()), model=model,
                        model_file=model_file, tcp=tcp, gpu=gpu, yes=True, dry_run=True)
    given = request != UpRequest(name="", yes=True, dry_run=True)
    return request, given


def _collect(names: list[str] | None, request: UpRequest, given: bool, *,
             gpu: GpuRequest | None = None, read_models: bool = False) -> Collected:
    from llmctl.cli import context
    from llmctl.export.sources import collect

    return collect(names or [], request, options_given=given, connect=context.get_engine,
                   events=context.events(yes=True), gpu=gpu, read_models=read_models)


def _pins(pin_digests: bool, lock_file: str) -> dict[str, str] | None:
    """`--pin-digests`: the lock's image pins (llmctl.lock.frozen.image_pins), read before
    the engine is contacted (a bad lock file is exit 3)."""
    if not pin_digests:
        return None
    from llmctl.lock.frozen import image_pins
    from llmctl.lock.model import read

    return image_pins(read(lock_file))


def _unpinned(pins: dict[str, str] | None, found: Collected, lock_file: str) -> None:
    """An image the lock cannot pin (not in it, or built here without a registry digest)
    keeps its tag: said in a note."""
    if pins is None:
        return
    for image in sorted({s.spec.image for s in found.services} - set(pins)):
        found.notes.append(f"{image} is not pinned: {lock_file} has no registry digest for it "
                           "(not locked, or built or loaded locally); its tag is written")


def _show(command: str, result: ExportResult, json_out: bool) -> None:
    if json_out:
        emit_json(command, result)
        return
    for warning in result.warnings:
        warn(warning)
    for note in result.notes:
        err(f"note: {note}")
    say = err if result.stdout else out
    if result.stdout:
        for f in result.files:
            write_document(f.text)
    for path in result.written:
        say(f"wrote {path}")
    say("next steps:")
    for step in result.next_steps:
        say(f"  {step}")
    say("then point the MCP client at it:")
    for cmd in result.endpoint_commands:
        say(f"  {cmd}")


@export_app.command("compose")
def compose_command(
    names: list[str] | None = _names(),
    output: str | None = typer.Option(None, "--output", "-o",
                                      help=f"{OUTPUT_HELP} Default: compose.yaml."),
    models: bool = typer.Option(
        False, "--models",
        help="Declare Model Runner models (Compose's top-level models:, Compose 2.38+)."),
    port: int | None = _opt("--port", "-p", help=PORT_HELP),
    bind: str = _opt("--bind", help=BIND_HELP, default="127.0.0.1"),
    name: str | None = _opt("--name", help=NAME_HELP),
    volume: str | None = _opt("--volume", help=VOLUME_HELP),
    image: str | None = _opt("--image", help=IMAGE_HELP),
    gpus: str = _opt("--gpus", help="auto | all | none (as `up --gpus`; auto: GPUs only where "
                     "the profile requires them).", default="auto"),
    env: list[str] = typer.Option([], "--env", "-e", help=ENV_HELP),
    model: str | None = _opt("--model", "-m", help=MODEL_HELP),
    model_file: str | None = _opt("--model-file", help="A GGUF file on this machine "
                                  "(as `up --model-file`), bind-mounted from its path."),
    tcp: int | None = _opt("--tcp", help="model-runner only: host TCP port (as `up --tcp`)."),
    gpu: str = _opt("--gpu", help="model-runner only: auto | none | cuda (as `up --gpu`).",
                    default="auto"),
    pin_digests: bool = typer.Option(False, "--pin-digests", help=PIN_HELP),
    lock_file: str = typer.Option("llmctl.lock", "--lock", help=LOCK_HELP),
    json_out: bool = JSON_OPTION,
) -> None:
    """A Compose file that runs what llmctl runs here: the same images, ports (127.0.0.1
    unless --bind), volumes, environment (secrets named, never valued), GPUs, the llmctl
    network, a healthcheck per server, and the endpoints as x-llmctl."""
    from llmctl.export.run import export_compose

    request, given = _request(port=port, bind=bind, name=name, volume=volume, image=image,
                              gpus=gpus, env=env, model=model, model_file=model_file,
                              tcp=tcp, gpu=gpu)
    pins = _pins(pin_digests, lock_file)
    found = _collect(names, request, given, read_models=models)
    _unpinned(pins, found, lock_file)
    result = export_compose(found.services, output=output, models=models, pins=pins,
                            notes=found.notes)
    _show("export compose", result, json_out)


@export_app.command("kube")
def kube_command(
    names: list[str] | None = _names(),
    output: str | None = typer.Option(None, "--output", "-o",
                                      help="Folder to write ('-': one YAML stream on stdout)."),
    namespace: str | None = _opt("--namespace", "-n", help=NAMESPACE_HELP),
    gpu: str | None = _opt("--gpu", help=KUBE_GPU_HELP),
    storage: str | None = _opt("--storage", help=STORAGE_HELP + " Default: 50Gi."),
    storage_class: str | None = _opt("--storage-class", help=STORAGE_CLASS_HELP),
    hf_token_secret: str | None = _opt("--hf-token-secret", help=HF_SECRET_HELP),
    replicas: int = _opt("--replicas", help=REPLICAS_HELP, default=1),
    port: int | None = _opt("--port", "-p", help=LOCAL_PORT_HELP),
    name: str | None = _opt("--name", help=NAME_HELP),
    volume: str | None = _opt("--volume", help=VOLUME_HELP),
    image: str | None = _opt("--image", help=IMAGE_HELP),
    env: list[str] = typer.Option([], "--env", "-e", help=ENV_HELP),
    model: str | None = _opt("--model", "-m", help=MODEL_HELP),
    model_file: str | None = _opt("--model-file", help=MODEL_FILE_HELP),
    pin_digests: bool = typer.Option(False, "--pin-digests", help=PIN_HELP),
    lock_file: str = typer.Option("llmctl.lock", "--lock", help=LOCK_HELP),
    json_out: bool = JSON_OPTION,
) -> None:
    """Kubernetes manifests: a Deployment (probes from the profile, GPUs in limits, a
    restrictive security context), a ClusterIP Service and a claim for the models per server,
    and a kustomization.yaml. Hardware comes from the flags only."""
    from llmctl.export.model import kube_options
    from llmctl.export.run import export_kube

    options = kube_options(namespace=namespace, gpu=gpu, storage=storage,
                           storage_class=storage_class, hf_token_secret=hf_token_secret,
                           replicas=replicas)
    if not output:
        from llmctl.errors import UsageError

        raise UsageError("export kube writes a folder: give -o DIR (or -o - for one YAML "
                         "stream on stdout)", "Example: llmctl export kube ollama -o k8s/")
    request, given = _request(port=port, name=name, volume=volume, image=image, env=env,
                              model=model, model_file=model_file)
    pins = _pins(pin_digests, lock_file)
    found = _collect(names, request, given, gpu=options.gpu)
    _unpinned(pins, found, lock_file)
    result = export_kube(found.services, options, output=output, pins=pins, notes=found.notes)
    _show("export kube", result, json_out)


@export_app.command("helm-values")
def helm_command(
    names: list[str] | None = _names(),
    chart: str = typer.Option(..., "--chart", help="ollama | model-runner | vllm-stack."),
    output: str | None = typer.Option(None, "--output", "-o",
                                      help=f"{OUTPUT_HELP} Default: CHART-values.yaml."),
    namespace: str | None = _opt("--namespace", "-n", help=NAMESPACE_HELP),
    gpu: str | None = _opt("--gpu", help=KUBE_GPU_HELP),
    storage: str | None = _opt("--storage", help=STORAGE_HELP + " Default: 50Gi."),
    storage_class: str | None = _opt("--storage-class", help=STORAGE_CLASS_HELP),
    hf_token_secret: str | None = _opt("--hf-token-secret", help=HF_SECRET_HELP),
    replicas: int = _opt("--replicas", help=REPLICAS_HELP, default=1),
    port: int | None = _opt("--port", "-p", help=LOCAL_PORT_HELP),
    name: str | None = _opt("--name", help=NAME_HELP),
    image: str | None = _opt("--image", help=IMAGE_HELP),
    env: list[str] = typer.Option([], "--env", "-e", help=ENV_HELP),
    model: str | None = _opt("--model", "-m", help=MODEL_HELP),
    pin_digests: bool = typer.Option(False, "--pin-digests", help=PIN_HELP),
    lock_file: str = typer.Option("llmctl.lock", "--lock", help=LOCK_HELP),
    json_out: bool = JSON_OPTION,
) -> None:
    """Values for a maintained chart that runs the same server: the Ollama chart
    (otwld/ollama-helm), Docker Model Runner's chart, or vLLM's production stack."""
    from llmctl.errors import UsageError
    from llmctl.export.helm import CHARTS
    from llmctl.export.model import kube_options
    from llmctl.export.run import export_helm

    if chart not in CHARTS:
        raise UsageError(f"--chart {chart!r} is not one of {', '.join(CHARTS)}")
    options = kube_options(namespace=namespace, gpu=gpu, storage=storage,
                           storage_class=storage_class, hf_token_secret=hf_token_secret,
                           replicas=replicas)
    request, given = _request(port=port, name=name, image=image, env=env, model=model)
    pins = _pins(pin_digests, lock_file)
    found = _collect(names, request, given, gpu=options.gpu,
                     read_models=chart in ("ollama", "model-runner"))
    _unpinned(pins, found, lock_file)
    result = export_helm(found.services, chart, options, output=output, pins=pins,
                         notes=found.notes)
    _show("export helm-values", result, json_out)
