"""`llmctl export compose|kube|helm-values` as a user sees it: golden files for every
built-in profile and target and a user profile, the same bytes twice, a changed profile
changes the output, `-o -` and `--json`, secrets never valued, and every documented error
with its exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.cli.export_cases import (
    COMPOSE,
    HELM,
    KUBE,
    USER_PROFILES,
    as_golden,
    check_golden,
    export,
    llmctl,
    user_profiles,  # noqa: F401 - the fixture every test here uses
)

pytestmark = pytest.mark.usefixtures("user_profiles")


@pytest.mark.parametrize("case", sorted(COMPOSE))
def test_compose_golden(case: str, tmp_path: Path) -> None:
    check_golden("compose", case, as_golden(export("compose", COMPOSE[case],
                                                    tmp_path / "compose.yaml")))


@pytest.mark.parametrize("case", sorted(KUBE))
def test_kube_golden(case: str, tmp_path: Path) -> None:
    files = export("kube", KUBE[case], tmp_path / "k8s-dir")
    assert "kustomization.yaml" in [f.name for f in files]
    check_golden("kube", case, as_golden(files))


@pytest.mark.parametrize("case", sorted(HELM))
def test_helm_golden(case: str, tmp_path: Path) -> None:
    check_golden("helm", case, as_golden(export("helm-values", HELM[case],
                                                 tmp_path / "values.yaml")))


def test_two_exports_give_identical_bytes(tmp_path: Path) -> None:
    for form, args in (("compose", COMPOSE["mine"]), ("kube", KUBE["vllm-cluster"]),
                       ("helm-values", HELM["vllm-stack"])):
        one = export(form, args, tmp_path / f"one-{form}")
        two = export(form, args, tmp_path / f"two-{form}")
        assert [f.read_bytes() for f in one] == [f.read_bytes() for f in two]


def test_changing_a_profile_changes_the_output(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(USER_PROFILES, profiles)
    monkeypatch.setenv("LLMCTL_PROFILES_DIR", str(profiles))
    before = {f: export(f, args, tmp_path / f"before-{f}") for f, args in
              (("compose", COMPOSE["mine"]), ("kube", KUBE["mine"]))}
    mine = profiles / "mine.yaml"
    mine.write_text(mine.read_text().replace("llm-server:2.1.0", "llm-server:2.2.0")
                    .replace('SERVER_THREADS: "4"', 'SERVER_THREADS: "8"'))
    for form, args in (("compose", COMPOSE["mine"]), ("kube", KUBE["mine"])):
        after = export(form, args, tmp_path / f"after-{form}")
        old, new = as_golden(before[form]), as_golden(after)
        assert old != new
        assert "llm-server:2.2.0" in new and "llm-server:2.1.0" not in new
        assert "'8'" in new and "'4'" not in new


def test_stdout_holds_the_document_and_stderr_the_next_steps(tmp_path: Path) -> None:
    code, out, err = llmctl("export", "compose", "ollama", "--port", "11600", "-o", "-")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["services"]["ollama"]["ports"] == ["127.0.0.1:11600:11434"]
    assert "docker compose -f - up -d" in err
    assert "llmctl endpoint write --endpoint http://127.0.0.1:11600" in err
    code, out, err = llmctl("export", "kube", "ollama", "--port", "11600", "-o", "-")
    assert code == 0, err
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["Deployment", "PersistentVolumeClaim", "Service"]
    assert "kubectl apply -f -" in err


def test_json_gives_the_documents_and_where_they_were_written(tmp_path: Path) -> None:
    target = tmp_path / "k8s"
    code, out, err = llmctl("export", "kube", "vllm", "--model", "Qwen/Qwen3-0.6B", "-o",
                            str(target), "--json")
    assert code == 0, err
    doc = json.loads(out)  # exactly one document
    assert doc["command"] == "export kube" and doc["ok"] is True
    result = doc["result"]
    assert result["written"] == [str(target / f["name"]) for f in result["files"]]
    kinds = {d["kind"] for f in result["files"] for d in f["documents"]}
    assert kinds == {"Deployment", "Service", "PersistentVolumeClaim", "Kustomization"}
    assert any("kubectl apply -k" in s for s in result["next_steps"])
    assert result["endpoint_commands"][0].startswith(
        "llmctl endpoint write --endpoint http://127.0.0.1:8000")
    # -o - with --json: the documents are in the JSON only, nothing else on stdout
    code, out, _ = llmctl("export", "compose", "ollama", "--port", "11600", "-o", "-",
                          "--json")
    assert code == 0
    result = json.loads(out)["result"]
    assert result["written"] == [] and result["files"][0]["path"] is None
    assert result["files"][0]["documents"][0]["services"]["ollama"]["image"].startswith(
        "ollama/ollama:")


def test_secrets_are_named_never_valued(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETVALUE_1234")
    monkeypatch.setenv("SERVER_API_KEY", "sk-SECRETVALUE-5678")
    outputs = []
    for form, args, dest in (
            ("compose", ["tgi", "--model", "a/b", "--env", "OTHER_TOKEN=tok-SECRETVALUE"],
             tmp_path / "c.yaml"),
            ("kube", ["mine", "--model", "a/b", "--env", "SERVER_API_KEY"], tmp_path / "k"),
            ("helm-values", ["vllm", "--chart", "vllm-stack", "--model", "a/b"],
             tmp_path / "v.yaml")):
        code, out, err = llmctl("export", form, *args, "-o", str(dest), "--json")
        assert code == 0, err
        outputs += [out, err] + [f.read_text() for f in
                                 (sorted(dest.iterdir()) if dest.is_dir() else [dest])]
    text = "\n".join(outputs)
    assert "SECRETVALUE" not in text
    compose = yaml.safe_load((tmp_path / "c.yaml").read_text())
    env = compose["services"]["tgi"]["environment"]
    assert env["HF_TOKEN"] is None and env["OTHER_TOKEN"] is None
    deployment = yaml.safe_load((tmp_path / "k" / "mine-deployment.yaml").read_text())
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "SERVER_API_KEY")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "mine-env", "key": "SERVER_API_KEY", "optional": True}


def test_a_file_llmctl_did_not_write_is_never_overwritten(tmp_path: Path) -> None:
    mine = tmp_path / "compose.yaml"
    mine.write_text("services: {mine: {image: 'x:1'}}\n")
    code, _, err = llmctl("export", "compose", "ollama", "--port", "11600", "-o", str(mine))
    assert code == 5
    assert "was not written by llmctl export" in err and "hint:" in err
    assert mine.read_text() == "services: {mine: {image: 'x:1'}}\n"
    export("compose", ["ollama", "--port", "11600"], tmp_path / "ours.yaml")
    export("compose", ["ollama", "--port", "11601"], tmp_path / "ours.yaml")  # ours: rewritten
    assert "11601" in (tmp_path / "ours.yaml").read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["helm-values", "ollama", "--chart", "nginx"], 2, "--chart 'nginx' is not one of"),
    (["helm-values", "tgi", "--model", "a/b", "--chart", "vllm-stack"], 2,
     "--chart vllm-stack does not run tgi"),
    (["helm-values", "ollama", "--chart", "ollama", "--replicas", "2"], 2,
     "ReadWriteOnce claim"),
    (["kube", "ollama", "--replicas", "2", "-o", "DIR"], 2, "ReadWriteOnce claim"),
    (["kube", "ollama", "--replicas", "0", "-o", "DIR"], 2, "--replicas 0 must be 1 or more"),
    (["kube", "ollama", "--storage", "50GB", "-o", "DIR"], 2, "is not a size Kubernetes takes"),
    (["kube", "ollama", "--storage", "0Gi", "-o", "DIR"], 2, "is not a size Kubernetes takes"),
    (["kube", "ollama", "--gpu", "nvidia:all", "-o", "DIR"], 2, "is not nvidia:N, amd:N"),
    (["kube", "ollama", "--storage-class", "Fast_SSD", "-o", "DIR"], 2,
     "is not a Kubernetes name"),
    (["kube", "ollama", "--hf-token-secret", "hf-token", "-o", "DIR"], 2, "is not NAME/KEY"),
    (["kube", "ollama", "--namespace", "My_NS", "-o", "DIR"], 2, "not a Kubernetes namespace"),
    (["kube", "ollama"], 2, "give -o DIR"),
    (["kube", "llamacpp", "--model-file", "GGUF", "-o", "DIR"], 2,
     "is a file on this machine; a cluster cannot read it"),
    (["kube", "ollama", "--volume", "HOSTDIR", "-o", "DIR"], 2,
     "is a folder of this machine; a cluster cannot mount it"),
    (["compose", "ollama", "vllm", "--port", "1234"], 2, "describe one server"),
    (["compose", "ollama", "--models", "--port", "11600"], 2, "has no Model Runner"),
    (["compose", "no-such-profile"], 7, "no profile named 'no-such-profile'"),
    (["compose", "ollama", "--image", "ollama/ollama"], 2, "has no tag"),
])
def test_errors_are_one_line_with_a_fix(args: list[str], code: int, message: str,
                                        tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "data").mkdir()
    args = [{"DIR": str(tmp_path / "out"), "GGUF": str(gguf),
             "HOSTDIR": str(tmp_path / "data")}.get(a, a) for a in args]
    got, out, err = llmctl("export", *args)
    assert got == code, err
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0], err
    assert lines[-1].startswith("hint: ") or len(lines) == 1 or lines[-1].startswith("error")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written
    got, out, _ = llmctl("export", *args, "--json")
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == code
