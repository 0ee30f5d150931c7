"""The three forms from services planned from profiles (no engine): what Compose, Kubernetes
and the charts get, the checks the schemas do not make, and the image pin seam."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from llmctl.errors import UsageError
from llmctl.export import compose as compose_form
from llmctl.export import health, kube_checks
from llmctl.export.helm import helm_values
from llmctl.export.images import image_ref, repository, split_ref
from llmctl.export.kube import kube, kube_name, shm_quantity
from llmctl.export.model import (
    GpuRequest,
    KubeOptions,
    Service,
    check_quantity,
    kube_options,
    parse_gpu,
)
from llmctl.export.sources import from_profile
from llmctl.targets.base import Events, UpRequest

MODELS = {"vllm": "Qwen/Qwen3-0.6B", "tgi": "HuggingFaceTB/SmolLM2-360M-Instruct",
          "llamacpp": "ggml-org/SmolLM2-360M-Instruct-GGUF"}


@pytest.fixture(autouse=True)
def _no_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LLMCTL_MODEL_RUNNER_IMAGE"):
        monkeypatch.delenv(var, raising=False)


def service(name: str, **options: Any) -> Service:
    if name in MODELS and "model" not in options and "model_file" not in options:
        options["model"] = MODELS[name]
    return from_profile(name, UpRequest(name="", yes=True, **options), Events())


# --- images ----------------------------------------------------------------------------------
def test_every_image_goes_through_the_pin_map() -> None:
    pins = {"ollama/ollama:0.40.2": "ollama/ollama:0.40.2@sha256:" + "a" * 64}
    s = service("ollama")
    doc = compose_form.compose([s], pins=pins).document
    assert doc["services"]["ollama"]["image"] == pins["ollama/ollama:0.40.2"]
    manifests = kube([s], KubeOptions(), pins=pins)
    deployment = manifests.files[0][1][0]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == \
        pins["ollama/ollama:0.40.2"]
    values = helm_values([s], "ollama", KubeOptions(), pins=pins).values
    assert values["image"] == {"repository": "ollama/ollama", "tag": "0.40.2@sha256:" + "a" * 64}
    assert image_ref("x/y:1", None) == "x/y:1" and image_ref("x/y:1", pins) == "x/y:1"


def test_image_parts() -> None:
    assert split_ref("localhost:5000/a/b:1.0") == ("localhost:5000/a/b", "1.0")
    assert split_ref("a/b@sha256:" + "0" * 64) == ("a/b", "@sha256:" + "0" * 64)
    assert repository("docker.io/library/ollama:1") == "ollama"
    assert repository("docker.io/ollama/ollama:1") == "ollama/ollama"


# --- compose ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "test"), [
    ("ollama", ["CMD", "ollama", "list"]),
    ("llamacpp", ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]),
    ("localai", ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]),
    ("model-runner", ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:12434/"]),
])
def test_a_healthcheck_uses_a_command_the_image_has(name: str, test: list[str]) -> None:
    s = service(name)
    check = compose_form.compose([s]).document["services"][name]["healthcheck"]
    assert check["test"] == test
    assert check["start_period"] == f"{int(s.workload.readiness.timeout)}s"


def test_python_servers_are_asked_with_python() -> None:
    for name, port in (("vllm", 8000), ("tgi", 80)):
        test = health.health_command(service(name))
        assert test is not None and test[:3] == ["CMD", "python3", "-c"]
        assert f"http://127.0.0.1:{port}/health" in test[3]


def test_an_unknown_image_gets_no_healthcheck_and_a_note() -> None:
    made = compose_form.compose([service("ollama", image="ghcr.io/me/ollama-fork:1.0")])
    assert "healthcheck" not in made.document["services"]["ollama"]
    assert any("no healthcheck" in n and "GET /" in n for n in made.notes)


def test_compose_service_is_what_up_runs(tmp_path: Path) -> None:
    gguf = tmp_path / "smol.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    s = service("llamacpp", model_file=str(gguf), port=18090, gpus="all",
                env=("LLAMA_ARG_THREADS=2",))
    made = compose_form.compose([s])
    doc = made.document["services"]["llamacpp"]
    assert doc["ports"] == ["127.0.0.1:18090:8080"]
    assert doc["command"] == ["--jinja", "-m", "/models/smol.gguf", "--alias", "smol"]
    assert doc["environment"]["LLAMA_ARG_THREADS"] == "2"
    assert doc["environment"]["HF_TOKEN"] is None
    assert {"type": "bind", "source": str(gguf), "target": "/models/smol.gguf",
            "read_only": True} in doc["volumes"]
    assert doc["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "io.llmctl.secrets" not in doc["labels"]
    assert doc["networks"] == ["llmctl"]
    assert made.document["networks"]["llmctl"]["name"] == "llmctl"
    assert any(str(gguf) in n and "this machine" in n for n in made.notes)
    assert made.endpoint_commands == [
        "llmctl endpoint write --endpoint http://127.0.0.1:18090 --model smol"]


def test_compose_warns_about_a_server_published_beyond_loopback() -> None:
    made = compose_form.compose([service("ollama", bind="0.0.0.0")])
    assert made.document["services"]["ollama"]["ports"] == ["0.0.0.0:11435:11434"]
    assert made.warnings and "unauthenticated" in made.warnings[0]
    assert made.endpoints["ollama"] == "http://127.0.0.1:11435"
    ipv6 = compose_form.compose([service("ollama", bind="::1")])
    assert ipv6.document["services"]["ollama"]["ports"] == ["[::1]:11435:11434"]


def test_two_services_on_one_port_are_refused() -> None:
    with pytest.raises(UsageError, match=r"both publish 127\.0\.0\.1:11435"):
        compose_form.compose([service("ollama", instance="a"), service("ollama", instance="b")])


def test_models_are_declared_and_granted() -> None:
    runner = service("model-runner", model="ai/smollm2:360M-Q4_K_M")
    runner = Service(runner.name, runner.workload, models=runner.models,
                     pulled=("ai/smollm2:latest", "hf.co/bartowski/x-GGUF:Q4_K_M"))
    made = compose_form.compose([runner, service("ollama")], models=True)
    doc = made.document
    assert doc["models"] == {"smollm2": {"model": "ai/smollm2:360M-Q4_K_M"},
                             "smollm2-2": {"model": "ai/smollm2:latest"},
                             "x-gguf": {"model": "hf.co/bartowski/x-GGUF:Q4_K_M"}}
    assert doc["x-llmctl"]["models"]["x-gguf"] == {"endpoint_var": "X_GGUF_URL",
                                                   "model_var": "X_GGUF_MODEL"}
    assert list(doc["services"]) == ["ollama"]  # Compose runs the runner for models:
    with pytest.raises(UsageError, match="no Model Runner model"):
        compose_form.compose([service("model-runner")], models=True)


# --- kube ------------------------------------------------------------------------------------
def objects(made: Any) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for _, docs in made.files for d in docs}


def test_kube_objects() -> None:
    s = service("vllm")
    made = kube([s], kube_options(namespace="llm", gpu="nvidia:2", storage="200Gi",
                                  storage_class="fast", hf_token_secret="hf/tok",
                                  replicas=1))
    o = objects(made)
    pod = o["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert o["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    assert c["startupProbe"]["failureThreshold"] == 180  # 1800 s to load, every 10 s
    assert c["env"] == [{"name": "HF_TOKEN",
                         "valueFrom": {"secretKeyRef": {"name": "hf", "key": "tok"}}}]
    assert pod["enableServiceLinks"] is False and pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "shm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert o["Service"]["spec"]["type"] == "ClusterIP"
    assert "hostPort" not in str(o)
    assert o["PersistentVolumeClaim"]["spec"] == {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
        "resources": {"requests": {"storage": "200Gi"}}}
    assert objects(made)["Kustomization"]["namespace"] == "llm"
    assert made.secrets == [("hf", "tok", "HF_TOKEN")]


def test_nothing_of_this_machine_reaches_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU only from the flag (or the profile's need), never the engine's; the default
    HF secret is optional so the pod starts without it."""
    made = kube([service("ollama")], KubeOptions())
    c = objects(made)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert "resources" not in c
    tgi = objects(kube([service("tgi")], KubeOptions()))
    c = tgi["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert c["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token",
                                                       "optional": True}
    shm = next(v for v in tgi["Deployment"]["spec"]["template"]["spec"]["volumes"]
               if v["name"] == "shm")
    assert shm == {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}


def test_storage_none_allows_replicas() -> None:
    made = kube([service("ollama")], kube_options(namespace=None, gpu=None, storage="none",
                                                  storage_class=None, hf_token_secret=None,
                                                  replicas=3))
    o = objects(made)
    assert o["Deployment"]["spec"]["replicas"] == 3 and "strategy" not in o["Deployment"]["spec"]
    assert "PersistentVolumeClaim" not in o
    with pytest.raises(UsageError, match="ReadWriteOnce"):
        kube([service("ollama")], KubeOptions(replicas=2))


def test_names_and_quantities() -> None:
    assert kube_name("t_my.server") == "t-my-server"
    assert kube_name("2fast") == "llm-2fast"
    assert shm_quantity("1g") == "1Gi" and shm_quantity("512m") == "512Mi"
    assert shm_quantity("67108864") == "67108864"
    for good in ("50Gi", "100G", "1.5Ti", "500Mi", "1e9"):
        assert check_quantity(good) == good
    for bad in ("50GB", "50gb", "-1Gi", "0", "Gi", "1 Gi", "0.0Gi"):
        with pytest.raises(UsageError):
            check_quantity(bad)
    assert parse_gpu("nvidia:2") == GpuRequest("nvidia", 2)
    assert parse_gpu("amd") == GpuRequest("amd", 1)
    assert parse_gpu("none") == GpuRequest(None)
    assert parse_gpu(None) is None
    for bad in ("nvidia:0", "nvidia:all", "intel:1", "2", ""):
        with pytest.raises(UsageError):
            parse_gpu(bad)


GOOD = kube([Service("x", service("vllm").workload)], KubeOptions()).files


def _docs() -> list[dict[str, Any]]:
    return copy.deepcopy([d for _, docs in GOOD for d in docs if d["kind"] != "Kustomization"])


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    dep = next(d for d in docs if d["kind"] == "Deployment")
    return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("break_it", "problem"), [
    (lambda d: _container(d)["resources"]["limits"].update({"nvidia.com/gpu": "all"}),
     "not a whole number of GPUs"),
    (lambda d: _container(d)["resources"].update({"requests": {"nvidia.com/gpu": 1}}),
     "belongs in limits only"),
    (lambda d: _container(d)["resources"]["limits"].update({"nvidia/gpu": 1}),
     "unknown resource name"),
    (lambda d: _container(d)["ports"][0].update({"name": "http-openai-api-port"}),
     "is not 1-15 characters"),
    (lambda d: _container(d)["ports"][0].update({"hostPort": 8000}), "hostPort"),
    (lambda d: next(x for x in d if x["kind"] == "Service")["spec"]["selector"].update(
        {"app.kubernetes.io/name": "other"}), "matches no pod"),
    (lambda d: next(x for x in d if x["kind"] == "PersistentVolumeClaim")["spec"]["resources"]
     ["requests"].update({"storage": "50GB"}), "is not a quantity"),
    (lambda d: next(x for x in d if x["kind"] == "Deployment")["spec"]["selector"]
     ["matchLabels"].update({"tier": "x"}), "selector.matchLabels"),
    (lambda d: _container(d)["readinessProbe"]["httpGet"].update({"port": "api"}),
     "does not name"),
    (lambda d: next(x for x in d if x["kind"] == "Deployment")["spec"].update({"replicas": 2}),
     "ReadWriteOnce"),
])
def test_own_checks_catch_what_schemas_do_not(break_it: Any, problem: str) -> None:
    assert kube_checks.check_manifests(_docs()) == []
    docs = _docs()
    break_it(docs)
    found = kube_checks.check_manifests(docs)
    assert any(problem in p for p in found), found


# --- helm ------------------------------------------------------------------------------------
# The keys each chart documents (its values.yaml and README), that llmctl may write; values
# that the chart copies into the pod as they are (security contexts, env lists) count as one.
DOCUMENTED = {
    "ollama": {"image.repository", "image.tag", "replicaCount", "ollama.gpu.enabled",
               "ollama.gpu.type", "ollama.gpu.number", "ollama.models.pull",
               "persistentVolume.enabled", "persistentVolume.size",
               "persistentVolume.storageClass", "updateStrategy.type", "extraEnv",
               "securityContext", "podSecurityContext"},
    "model-runner": {"image.repository", "image.tag", "replicaCount", "gpu.enabled",
                     "gpu.vendor", "gpu.count", "storage.size", "storage.storageClass",
                     "modelInit.enabled", "modelInit.models"},
    "vllm-stack": {"servingEngineSpec.runtimeClassName", "servingEngineSpec.modelSpec"},
}
# vLLM production stack, servingEngineSpec.modelSpec[] (values.yaml comments and its values
# JSON schema): the type of each key llmctl writes, and the keys the schema requires.
MODEL_SPEC = {"name": str, "repository": str, "tag": str, "modelURL": str,
              "replicaCount": int, "requestCPU": int, "requestMemory": str, "requestGPU": int,
              "requestGPUType": str, "pvcStorage": str, "storageClass": str, "hf_token": dict,
              "envFromSecret": dict, "vllmConfig": dict, "env": list, "shmSize": str}
MODEL_SPEC_REQUIRED = {"name", "repository", "tag", "modelURL", "replicaCount", "requestCPU",
                       "requestMemory", "requestGPU", "pvcStorage"}
OPAQUE = {"securityContext", "podSecurityContext", "extraEnv", "servingEngineSpec.modelSpec",
          "ollama.models.pull", "modelInit.models"}


def leaves(doc: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in OPAQUE:
            out |= leaves(value, path + ".")
        else:
            out.add(path)
    return out


@pytest.mark.parametrize(("chart", "name", "options"), [
    ("ollama", "ollama", KubeOptions()),
    ("ollama", "ollama", KubeOptions(gpu=GpuRequest("amd", 2), storage_class="fast")),
    ("ollama", "ollama", KubeOptions(storage="none", replicas=2)),
    ("model-runner", "model-runner", KubeOptions(gpu=GpuRequest("nvidia", 1))),
    ("vllm-stack", "vllm", KubeOptions(hf_token_secret=("hf", "tok"), storage_class="fast")),
    ("vllm-stack", "vllm", KubeOptions(gpu=GpuRequest("amd", 1))),
])
def test_helm_values_use_the_charts_documented_keys(chart: str, name: str,
                                                    options: KubeOptions) -> None:
    s = service(name, env=("SOME_SETTING=1", "MY_API_KEY")) if chart == "vllm-stack" \
        else service(name)
    if name == "ollama":
        s = Service(s.name, s.workload, pulled=("llama3.2:latest",))
    values = helm_values([s], chart, options).values
    assert leaves(values) <= DOCUMENTED[chart]
    if chart == "ollama":
        assert values["ollama"]["models"] == {"pull": ["llama3.2:latest"]}
    if chart == "vllm-stack":
        for spec in values["servingEngineSpec"]["modelSpec"]:
            assert set(spec) >= MODEL_SPEC_REQUIRED
            for key, value in spec.items():
                assert isinstance(value, MODEL_SPEC[key]), key
            assert spec["modelURL"] == "Qwen/Qwen3-0.6B"
            assert set(spec["hf_token"]) == {"secretName", "secretKey"}
            assert spec["envFromSecret"] == {"name": "vllm-env"}


def test_helm_refuses_a_chart_that_does_not_run_the_server() -> None:
    with pytest.raises(UsageError, match="--chart ollama does not run vllm") as caught:
        helm_values([service("vllm")], "ollama", KubeOptions())
    assert caught.value.hint == "Use --chart vllm-stack."
    with pytest.raises(UsageError, match="a localai server") as caught:
        helm_values([service("localai")], "ollama", KubeOptions())
    assert "llmctl export kube localai -o DIR" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="runs one server"):
        helm_values([service("ollama", instance="a"), service("ollama", instance="b")],
                    "ollama", KubeOptions())
    with pytest.raises(UsageError, match="always keeps"):
        helm_values([service("vllm")], "vllm-stack", KubeOptions(storage="none"))
