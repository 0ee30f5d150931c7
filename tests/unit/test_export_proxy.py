"""`llmctl export` of a server exposed with `llmctl expose`: its proxy goes with it (role
``proxy``), in every form, without the key (a variable named after the server, never
valued; the proxy fails closed without it).

The server and its proxy are planned by llmctl's own planners and started on the in-memory
engine (tests/fakes/engine.py), which keeps their labels as Docker does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from llmctl import lifecycle
from llmctl.export import sources
from llmctl.export.compose import compose
from llmctl.export.kube import kube
from llmctl.export.model import KubeOptions
from llmctl.export.run import export_compose, export_helm
from llmctl.expose.plan import Checked, Upstream, plan_proxy
from llmctl.plan import UpOptions
from llmctl.profiles import load_profile
from llmctl.targets.base import Events, UpRequest
from tests.fakes.engine import FakeEngine
from tests.support import need

KEY = "S" * 43


def exposed(tls: str = "off", listen: str = "0.0.0.0") -> FakeEngine:
    """`llmctl up ollama --name gpu --port 18437` then `llmctl expose gpu` on ``listen``."""
    engine = FakeEngine()
    planned = lifecycle.plan_up(engine, load_profile("ollama"),
                                UpOptions(port=18437, name="gpu"))
    engine.images.add(planned.spec.image)
    engine.run(planned.spec)
    upstream = Upstream("gpu", "ollama", "ollama", "", "llmctl-gpu", "llmctl-gpu:11434",
                        "running", "127.0.0.1", 18437)
    checked = Checked("gpu", listen, 11443, tls, "caddy:2.11.7", False, 60.0)
    spec = plan_proxy(upstream, checked, host_port=11443, key=KEY,
                      key_created="2026-12-01T00:00:00+00:00", url_host="192.168.1.10",
                      names=["192.168.1.10", "localhost", "llmctl-proxy-gpu"])
    engine.images.add(spec.image)
    engine.run(spec)
    return engine


def collect(engine: FakeEngine, names: list[str] | None = None) -> list[Any]:
    return sources.collect(names or [], UpRequest(name=""), options_given=False,
                           connect=lambda: engine, events=Events()).services  # type: ignore[arg-type,return-value]


def test_the_proxy_goes_with_its_server() -> None:
    services = collect(exposed())
    assert [(s.name, s.role) for s in services] == [("gpu", "server"), ("gpu-proxy", "proxy")]
    assert [s.name for s in collect(exposed(), ["gpu"])] == ["gpu", "gpu-proxy"]
    proxy = services[1]
    assert proxy.secrets == ("GPU_PROXY_KEY",) and proxy.spec.files == ()
    # What only this machine knows (when the key was made, its address) stays here.
    assert "io.llmctl.key-created" not in proxy.spec.labels
    assert "io.llmctl.url-host" not in proxy.spec.labels


def test_compose_has_the_proxy_and_never_the_key() -> None:
    made = compose(collect(exposed()))
    doc = made.document
    text = json.dumps(doc)
    assert KEY not in text
    svc = doc["services"]["gpu-proxy"]
    assert svc["image"] == "caddy:2.11.7" and svc["container_name"] == "llmctl-proxy-gpu"
    assert svc["ports"] == ["0.0.0.0:11443:8080"] and svc["networks"] == ["llmctl"]
    assert svc["environment"] == {"GPU_PROXY_KEY": None} and svc["depends_on"] == ["gpu"]
    assert svc["configs"] == [{"source": "llmctl-proxy-gpu-caddyfile",
                               "target": "/etc/caddy/Caddyfile"}]
    caddyfile = doc["configs"]["llmctl-proxy-gpu-caddyfile"]["content"]
    # Compose would read $ itself: Caddy's {$VAR} is written {$$VAR}.
    assert 'header Authorization "Bearer {$$GPU_PROXY_KEY}"' in caddyfile
    assert 'header_regexp Authorization "^Bearer [A-Za-z0-9_-]{32,}$$"' in caddyfile
    assert "$" not in caddyfile.replace("$$", "")  # no lone $ for Compose to trip on
    assert "reverse_proxy llmctl-gpu:11434 {" in caddyfile
    assert "GPU_PROXY_KEY" in made.secrets
    # The server stays on loopback; the proxy with TLS off beyond it is a warning.
    assert doc["services"]["gpu"]["ports"] == ["127.0.0.1:18437:11434"]
    assert made.warnings == ["gpu-proxy is published on 0.0.0.0:11443 with TLS off: the key "
                             "travels in clear text on the network"]
    assert made.endpoint_commands[1] == ("llmctl endpoint write --endpoint "
                                         "http://127.0.0.1:11443 --token-file "
                                         "FILE-WITH-GPU_PROXY_KEY")
    steps = export_compose(collect(exposed()), output="-").next_steps
    assert not any("docker-compose 1.29" in s for s in steps)  # configs.content: Compose v2
    assert steps[0].startswith("export GPU_PROXY_KEY=...")


def test_compose_with_tls_internal_keeps_it_for_names_that_travel() -> None:
    made = compose(collect(exposed("internal", "127.0.0.1")))
    doc = made.document
    caddyfile = doc["configs"]["llmctl-proxy-gpu-caddyfile"]["content"]
    assert "https://localhost:8443, https://llmctl-proxy-gpu:8443 {" in caddyfile
    assert "192.168.1.10" not in caddyfile and "tls internal" in caddyfile
    assert doc["services"]["gpu-proxy"]["volumes"] == [
        {"type": "volume", "source": "llmctl-proxy-gpu-data", "target": "/data"}]
    assert "llmctl-proxy-gpu-data" in doc["volumes"]
    assert doc["x-llmctl"]["services"]["gpu-proxy"]["url"] == "https://127.0.0.1:11443"
    assert any("its certificate (Caddy's own CA" in n for n in made.notes)


def test_kube_has_a_configmap_a_deployment_and_a_service_for_the_proxy() -> None:
    docs = kube(collect(exposed()), KubeOptions(namespace="llm"))
    files = dict(docs.files)
    (cm,) = files["gpu-proxy-configmap.yaml"]
    (dep,) = files["gpu-proxy-deployment.yaml"]
    (svc,) = files["gpu-proxy-service.yaml"]
    assert KEY not in json.dumps(docs.files)
    assert "reverse_proxy gpu:11434 {" in cm["data"]["Caddyfile"]  # the server's Service
    assert "{$GPU_PROXY_KEY}" in cm["data"]["Caddyfile"] and "tls internal" not in \
        cm["data"]["Caddyfile"]
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "GPU_PROXY_KEY", "valueFrom": {"secretKeyRef": {
        "name": "gpu-proxy-key", "key": "key"}}}]
    assert svc["spec"]["type"] == "ClusterIP" and svc["metadata"]["namespace"] == "llm"
    assert ("gpu-proxy-key", "key", "GPU_PROXY_KEY") in docs.secrets
    assert "gpu-proxy-configmap.yaml" in files["kustomization.yaml"][0]["resources"]


def test_helm_values_leave_the_proxy_out_and_say_so() -> None:
    result = export_helm(collect(exposed()), "ollama", KubeOptions(), output="-")
    assert "gpu-proxy" not in json.dumps(result.files[0].documents)
    assert any(n.startswith("gpu-proxy: the authenticating proxy of `llmctl expose` is not "
                            "part of a chart's values") for n in result.notes)


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    need(found is not None, f"needs {name} (pip install -e '.[test]')")
    assert found is not None
    return found


def test_the_forms_validate(tmp_path: Path) -> None:
    """The Compose file against the Compose spec (check-jsonschema), the manifests with
    kubernetes-validate --strict, as the export's own validator tests do."""
    compose_file = tmp_path / "compose.yaml"
    export_compose(collect(exposed("internal")), output=str(compose_file))
    res = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                          str(compose_file)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    docs = kube(collect(exposed()), KubeOptions())
    for name, objects in docs.files:
        if name == "kustomization.yaml":
            continue
        path = tmp_path / name
        path.write_text("---\n".join(yaml.safe_dump(o) for o in objects))
        res = subprocess.run([_tool("kubernetes-validate"), "--strict", str(path)],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
