"""The three exports: services in, an :class:`~llmctl.export.model.ExportResult` out (the
files, written unless the output is ``-``, the next steps, the endpoint commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl.errors import UsageError
from llmctl.export.images import Pins
from llmctl.export.model import ExportFile, ExportResult, KubeOptions, Service
from llmctl.export.write import write_files, yaml_text

STDOUT = "-"
COMPOSE_FILE = "compose.yaml"


def _services(services: list[Service]) -> list[dict[str, Any]]:
    return [{"name": s.name, "target": s.workload.target, "kind": s.kind, "source": s.source,
             "image": s.spec.image, "api": s.workload.api} for s in services]


def _write(files: list[ExportFile], output: str, folder: bool) -> list[str]:
    """Write unless the output is ``-`` (stdout, or the JSON document with --json)."""
    if output == STDOUT:
        return []
    return write_files(files, Path(output) if folder else None)


def export_compose(services: list[Service], *, output: str | None = None,
                   models: bool = False, pins: Pins | None = None,
                   notes: list[str] | None = None) -> ExportResult:
    from llmctl.export.compose import compose, next_steps

    output = output or COMPOSE_FILE
    made = compose(services, models=models, pins=pins)
    text = yaml_text("compose", [made.document], [
        "Run: docker compose -f FILE up -d. Secrets are named here, never valued: export them",
        "(or put them in a .env file beside this file) before `docker compose up`."])
    name = output if output != STDOUT else COMPOSE_FILE
    file = ExportFile(name, text, [made.document])
    written = _write([file], output, folder=False)
    path = written[0] if written else None
    return ExportResult(
        format="compose", files=[file], services=_services(services),
        next_steps=next_steps(path, made.secrets, models=models,
                              compose_v1="configs" not in made.document),
        endpoint_commands=made.endpoint_commands,
        notes=[*(notes or []), *made.notes], warnings=made.warnings, written=written,
        stdout=output == STDOUT)


def export_kube(services: list[Service], options: KubeOptions, *, output: str | None,
                pins: Pins | None = None, notes: list[str] | None = None) -> ExportResult:
    from llmctl.export.kube import kube, next_steps

    if not output:
        raise UsageError("export kube writes a folder: give -o DIR (or -o - for one YAML "
                         "stream on stdout)", "Example: llmctl export kube ollama -o k8s/")
    made = kube(services, options, pins=pins)
    stream = output == STDOUT
    files = []
    for name, docs in made.files:
        if stream and name == "kustomization.yaml":
            continue  # `kubectl apply -f -` takes the objects; kustomize needs a folder
        comments = ["Apply the folder: kubectl apply -k DIR (patch it with kustomize)."]
        files.append(ExportFile(name, yaml_text("kube", docs, comments), docs))
    if stream:
        text = yaml_text("kube", [d for f in files for d in f.documents],
                         ["Apply: kubectl apply -f - (a folder with -o DIR adds a "
                          "kustomization.yaml)."])
        files = [ExportFile("-", text, [d for f in files for d in f.documents])]
    written = _write(files, output, folder=True)
    return ExportResult(
        format="kube", files=files, services=_services(services),
        next_steps=next_steps(made, None if stream else output, options.namespace),
        endpoint_commands=made.endpoint_commands, notes=[*(notes or []), *made.notes],
        written=written, stdout=stream)


def export_helm(services: list[Service], chart: str, options: KubeOptions, *,
                output: str | None = None, pins: Pins | None = None,
                notes: list[str] | None = None) -> ExportResult:
    from llmctl.export.helm import helm_values, next_steps
    from llmctl.export.proxy import ROLE_PROXY

    output = output or f"{chart}-values.yaml"
    proxies = [s for s in services if s.role == ROLE_PROXY]
    services = [s for s in services if s.role != ROLE_PROXY]
    notes = [*(notes or []), *(
        f"{p.name}: the authenticating proxy of `llmctl expose` is not part of a chart's "
        f"values; put the cluster's ingress with authentication in front of {p.workload.instance}"
        f" (or `llmctl export kube {p.workload.instance}` writes the proxy too)"
        for p in proxies)]
    made = helm_values(services, chart, options, pins=pins)
    text = yaml_text(f"helm-values --chart {chart}", [made.values], made.comments)
    file = ExportFile(output if output != STDOUT else f"{chart}-values.yaml", text,
                      [made.values])
    written = _write([file], output, folder=False)
    return ExportResult(
        format="helm-values", files=[file], services=_services(services),
        next_steps=next_steps(made, chart, written[0] if written else None, options.namespace),
        endpoint_commands=[made.endpoint_command], notes=[*(notes or []), *made.notes],
        written=written, stdout=output == STDOUT)
