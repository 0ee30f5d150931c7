"""Every export checked offline by the tools that know the formats:

- Compose: the Compose spec's JSON schema as check-jsonschema ships it
  (``--builtin-schema vendor.compose-spec``, which knows ``models:`` and rejects unknown
  keys), and Debian's docker-compose 1.29 (``config``) for the files without ``models:``,
  which it does not know;
- Kubernetes: ``kubernetes-validate --strict`` (the API schemas of the Kubernetes version it
  ships, unknown fields rejected) and ``kubectl kustomize DIR`` (the kustomization builds).

These tools are prerequisites in CI (.ci/run installs them): a missing one fails there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.export_cases import (
    COMPOSE,
    KUBE,
    export,
    user_profiles,  # noqa: F401 - the fixture every test here uses
)
from tests.support import need

pytestmark = pytest.mark.usefixtures("user_profiles")


def tool(name: str) -> str:
    """A command installed beside this Python (the test extras) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    need(found is not None, f"needs {name} (pip install -e '.[test]', or apt-get install)")
    assert found is not None
    return found


def ok(*cmd: str, cwd: Path | None = None) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert res.returncode == 0, f"{' '.join(cmd)}:\n{res.stdout}\n{res.stderr}"
    return res.stdout


@pytest.fixture(scope="module")
def compose_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compose")
    with pytest.MonkeyPatch.context() as mp:
        from tests.cli.export_cases import USER_PROFILES

        mp.setenv("LLMCTL_PROFILES_DIR", str(USER_PROFILES))
        for var in ("HF_TOKEN", "SERVER_API_KEY", "LLMCTL_MODEL_RUNNER_IMAGE"):
            mp.delenv(var, raising=False)
        return {case: export("compose", args, folder / f"{case}.yaml")[0]
                for case, args in COMPOSE.items()}


def test_every_compose_file_validates_against_the_compose_spec(
        compose_files: dict[str, Path]) -> None:
    out = ok(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
             *map(str, compose_files.values()))
    assert "ok" in out


def test_the_schema_check_rejects_what_compose_rejects(tmp_path: Path,
                                                       compose_files: dict[str, Path]) -> None:
    """The check can fail: an unknown key, and models: granted with an unknown field."""
    doc = yaml.safe_load(compose_files["ollama"].read_text())
    doc["services"]["ollama"]["gpu_count"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    res = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                          str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "gpu_count" in res.stdout


def test_plain_compose_files_pass_debians_docker_compose(
        compose_files: dict[str, Path]) -> None:
    compose = tool("docker-compose")
    for path in compose_files.values():
        if "models" in yaml.safe_load(path.read_text()):
            continue  # docker-compose 1.29 predates models: (Compose 2.38)
        ok(compose, "-f", str(path), "config", "-q", cwd=path.parent)


@pytest.fixture(scope="module")
def kube_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kube")
    with pytest.MonkeyPatch.context() as mp:
        from tests.cli.export_cases import USER_PROFILES

        mp.setenv("LLMCTL_PROFILES_DIR", str(USER_PROFILES))
        for var in ("HF_TOKEN", "SERVER_API_KEY", "LLMCTL_MODEL_RUNNER_IMAGE"):
            mp.delenv(var, raising=False)
        for case in KUBE:
            export("kube", KUBE[case], folder / case)
    return {case: folder / case for case in KUBE}


def test_every_kubernetes_object_validates_strictly(kube_dirs: dict[str, Path]) -> None:
    files = [str(f) for d in kube_dirs.values() for f in sorted(d.iterdir())
             if f.name != "kustomization.yaml"]
    ok(tool("kubernetes-validate"), "--strict", "--quiet", *files)


def test_strict_validation_can_fail(tmp_path: Path, kube_dirs: dict[str, Path]) -> None:
    doc = yaml.safe_load((kube_dirs["ollama"] / "ollama-deployment.yaml").read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    res = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "gpus" in res.stdout + res.stderr


def test_every_kustomization_builds(kube_dirs: dict[str, Path]) -> None:
    kubectl = tool("kubectl")
    for case, folder in kube_dirs.items():
        built = list(yaml.safe_load_all(ok(kubectl, "kustomize", str(folder))))
        kinds = sorted(d["kind"] for d in built)
        assert "Deployment" in kinds and "Service" in kinds, case
        if case == "vllm-cluster":
            assert {d["metadata"]["namespace"] for d in built} == {"llm"}
