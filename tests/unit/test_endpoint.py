"""The endpoint config: model, rendering, atomic locked writes, verification."""

from __future__ import annotations

import os
import shlex
import stat
import threading
from pathlib import Path

import pytest

from llmctl import endpoint as ep_mod
from llmctl import files
from llmctl.client import EndpointUnreachable, ModelNotFound
from llmctl.endpoint import (
    Endpoint,
    Verified,
    atomic_write,
    endpoints_path,
    env_vars,
    load_endpoint,
    read_config,
    remove_endpoint,
    render,
    save_endpoint,
)
from llmctl.errors import ConfigError, NotFoundError, UsageError
from llmctl.probe import ManagedTarget
from llmctl.verify import prepare_endpoint
from tests.support import managed_target
from tests.unit.test_probe import fake

OTHER = """\
# written by hand: llmctl must keep this comment
editor: vim   # and this one
endpoints:
  mine:
    api_type: ollama
    endpoint: http://127.0.0.1:11434
    model: llama3.2:latest
    notes: "café ☕"   # non-ASCII, a key llmctl does not own
zzz_last:
  - b
  - a
"""


def _file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | None = None) -> Path:
    path = tmp_path / "cfg" / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    if text is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
    return path


def _ep(name: str = "local", **kw: object) -> Endpoint:
    base: dict[str, object] = {
        "name": name,
        "api_type": "ollama",
        "endpoint": "http://127.0.0.1:11434",
        "model": "llama3.2:latest",
        "llm_type": "ollama",
    }
    base.update(kw)
    return Endpoint(**base)  # type: ignore[arg-type]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_path_default_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoints_path() == Path(os.environ["LLMCTL_CONFIG_DIR"]) / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(tmp_path / "x.yaml"))
    assert endpoints_path() == tmp_path / "x.yaml"


def test_save_and_load_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, monkeypatch)
    verified = Verified("2026-01-01T00:00:00+00:00", "ollama", True, True)
    save_endpoint(_ep(bearer_token="tok-123", verified=verified))
    loaded = load_endpoint()
    assert loaded.name == "local"
    assert loaded.bearer_token == "tok-123"
    assert loaded.verified == verified
    assert _mode(path) == 0o600
    assert read_config()[0] == "local"


def test_unknown_content_is_kept_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, monkeypatch, OTHER)
    save_endpoint(_ep("new", endpoint="http://127.0.0.1:11435"), make_default=None)
    text = path.read_text(encoding="utf-8")
    expected_new = (
        "  new:\n"
        "    llm_type: ollama\n"
        "    api_type: ollama\n"
        "    endpoint: http://127.0.0.1:11435\n"
        "    model: llama3.2:latest\n"
    )
    first, rest = OTHER.split("\n", 1)  # `default:` goes after the leading comment
    head, tail = rest.split("zzz_last:")
    assert text == first + "\ndefault: new\n" + head + expected_new + "zzz_last:" + tail
    assert _mode(path) == 0o600
    # writing the same again gives identical bytes
    save_endpoint(_ep("new", endpoint="http://127.0.0.1:11435"), make_default=None)
    assert path.read_text(encoding="utf-8") == text


def test_replacing_an_entry_keeps_its_unknown_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, monkeypatch, OTHER)
    save_endpoint(_ep("mine", model="qwen2.5:0.5b"))
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["endpoints"]["mine"]["notes"] == "café ☕"
    assert doc["endpoints"]["mine"]["model"] == "qwen2.5:0.5b"
    assert doc["editor"] == "vim" and doc["zzz_last"] == ["b", "a"]
    assert doc["default"] == "mine"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# written by hand")
    assert "editor: vim   # and this one\n" in text
    assert list(doc) == ["default", "editor", "endpoints", "zzz_last"]


def test_remove_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, monkeypatch, OTHER)
    save_endpoint(_ep("a"))
    remove_endpoint("a")
    assert path.read_text(encoding="utf-8") == OTHER
    with pytest.raises(NotFoundError):
        remove_endpoint("a")


def test_twenty_concurrent_writers_keep_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, monkeypatch, OTHER)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            save_endpoint(_ep(f"e{i}", model=f"m{i}"), make_default=False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _, eps = read_config()
    assert {e.name for e in eps} == {"mine"} | {f"e{i}" for i in range(20)}
    assert "# written by hand" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_crash_between_temp_and_replace_leaves_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, monkeypatch, OTHER)
    before = path.read_bytes()
    calls: list[str] = []

    def broken_replace(src: str, dst: object) -> None:
        calls.append(src)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    monkeypatch.setattr(files.time, "sleep", lambda s: None)
    with pytest.raises(ConfigError, match="No space left on device"):
        save_endpoint(_ep("x"))
    assert len(calls) == files.WRITE_RETRIES  # bounded retry
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "endpoints.yaml",
        "endpoints.yaml.lock",
    ]


def test_interrupt_during_write_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.env"
    target.write_text("old\n")

    def interrupted(src: str, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.env"]


def test_invalid_yaml_is_a_config_error_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _file(tmp_path, monkeypatch, "endpoints:\n  a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"endpoints\.yaml: line \d+"):
        read_config()


def test_python_tags_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _file(tmp_path, monkeypatch, "endpoints: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        read_config()


def test_bad_entry_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _file(
        tmp_path,
        monkeypatch,
        "endpoints:\n  a: {api_type: grpc, endpoint: 'http://x', model: m}\n",
    )
    with pytest.raises(ConfigError, match=r"endpoints\.a\.api_type"):
        read_config()


def test_load_errors_and_env_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _file(tmp_path, monkeypatch)
    with pytest.raises(NotFoundError, match="no endpoint configured"):
        load_endpoint()
    monkeypatch.setenv("LLM_ENDPOINT", "http://127.0.0.1:12434/engines/v1")
    monkeypatch.setenv("LLM_MODEL", "ai/smollm2")
    ep = load_endpoint()
    assert (ep.api_type, ep.endpoint, ep.model) == (
        "openai",
        "http://127.0.0.1:12434/engines/v1",
        "ai/smollm2",
    )
    save_endpoint(_ep("a"), make_default=False)
    save_endpoint(_ep("b"), make_default=False)
    with pytest.raises(NotFoundError, match="no endpoint named 'c'"):
        load_endpoint("c")


# --- rendering ---


def test_render_redacts_tokens_unless_revealed() -> None:
    ep = _ep(bearer_token="tok-secret")
    for fmt in ("yaml", "json", "env"):
        text = render(ep, fmt)
        assert "tok-secret" not in text
        assert "***" in text
    assert "tok-secret" in render(ep, "env", reveal=True)
    assert "tok-secret" not in repr(ep)
    with pytest.raises(UsageError):
        render(ep, "toml")


def test_env_exports_are_shell_quoted_and_connectable() -> None:
    ep = _ep(endpoint="http://0.0.0.0:11434", model="it's:latest")
    text = render(ep, "env")
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in shlex.split(text.replace("\n", " \n "), posix=True)
        if "=" in line
    )
    assert env == {
        "LLM_API_TYPE": "ollama",
        "LLM_ENDPOINT": "http://127.0.0.1:11434",
        "LLM_MODEL": "it's:latest",
        "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
        "OPENAI_API_KEY": "unused",
        "OLLAMA_HOST": "http://127.0.0.1:11434",
    }
    assert "export LLM_MODEL='it'\"'\"'s:latest'\n" in text


def test_env_for_model_runner() -> None:
    ep = _ep(
        api_type="openai",
        llm_type="docker-model-runner",
        endpoint="http://127.0.0.1:12434/engines/v1",
        model="ai/smollm2",
    )
    env = env_vars(ep)
    assert env["OPENAI_BASE_URL"] == env["LLM_ENDPOINT"] == "http://127.0.0.1:12434/engines/v1"
    assert env["OLLAMA_HOST"] == "http://127.0.0.1:12434"


def test_export_file_is_0600_and_holds_the_token(tmp_path: Path) -> None:
    out = ep_mod.export(_ep(bearer_token="tok-secret"), "env", tmp_path / "client.env")
    assert _mode(out) == 0o600
    assert "OPENAI_API_KEY=tok-secret" in out.read_text()


# --- prepare (verification against the fakes) ---


def test_prepare_ollama_with_tools() -> None:
    with fake("ollama", pulled="llama3.2") as url:
        result = prepare_endpoint(url=url.replace("127.0.0.1", "localhost"), model="llama3.2")
    ep = result.endpoint
    assert (ep.name, ep.llm_type, ep.api_type) == ("ollama", "ollama", "ollama")
    assert ep.endpoint == url  # 127.0.0.1, not localhost
    assert ep.endpoint_container == url.replace("127.0.0.1", "host.docker.internal")
    assert ep.verified is not None and ep.verified.tools is True
    assert result.warnings == []


def test_prepare_warns_when_the_model_has_no_tools() -> None:
    with fake("ollama", pulled="tinyllama") as url:
        result = prepare_endpoint(url=url)  # the only model is picked
    assert result.endpoint.model == "tinyllama:latest"
    assert result.endpoint.verified and result.endpoint.verified.tools is False
    assert any("does not support tools" in w for w in result.warnings)


def test_prepare_model_runner_uses_the_engines_v1_base() -> None:
    with fake("model-runner", pulled="ai/smollm2") as url:
        result = prepare_endpoint(url=url, model="smollm2")
    assert result.endpoint.endpoint == url + "/engines/v1"
    assert result.endpoint.llm_type == "docker-model-runner"
    assert result.endpoint.api_type == "openai"


def test_prepare_missing_model_names_the_pull_command() -> None:
    with fake("ollama", pulled="tinyllama") as url, pytest.raises(ModelNotFound) as info:
        prepare_endpoint(url=url, model="qwen2.5:0.5b")
    assert info.value.hint == "Pull it first: llmctl pull qwen2.5:0.5b"


def test_prepare_refuses_html() -> None:
    with fake("ollama", html=True) as url, pytest.raises(EndpointUnreachable, match="text/html"):
        prepare_endpoint(url=url, model="x")


def test_prepare_without_verify_trusts_the_url() -> None:
    result = prepare_endpoint(url="http://localhost:1/v1", model="m", verify=False)
    assert result.endpoint.endpoint == "http://127.0.0.1:1/v1"
    assert result.endpoint.api_type == "openai"
    assert result.verified is False


def test_prepare_picks_the_one_server_or_lists_several(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod

    with fake("ollama", pulled="tinyllama") as a, fake("vllm") as b:
        pa, pb = int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (pa,))
        assert prepare_endpoint(model="tinyllama").endpoint.endpoint == a
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (pa, pb))
        with pytest.raises(UsageError, match="several LLM servers answer") as info:
            prepare_endpoint(model="tinyllama")
    assert a in info.value.message and b + "/v1" in info.value.message


# --- servers llmctl runs: the default target, docker-container, the llmctl network URL ---


def test_prepare_defaults_to_the_one_managed_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl import probe as probe_mod

    with fake("ollama", pulled="llama3.2") as other, fake("vllm") as url:
        # an unmanaged Ollama on a usual port does not make the choice ambiguous
        monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (int(other.rsplit(":", 1)[1]),))
        target = managed_target(url, "t-vllm", "vllm", "openai", 8000)
        result = prepare_endpoint(targets_from_managed=[target])
    ep = result.endpoint
    assert (ep.name, ep.llm_type, ep.api_type) == ("t-vllm", "docker-container", "openai")
    assert ep.endpoint == url + "/v1"
    assert ep.endpoint_container == "http://llmctl-t-vllm:8000/v1"
    assert ep.model == "Qwen/Qwen3-0.6B"
    assert result.managed == target
    assert result.to_dict()["managed"]["instance"] == "t-vllm"


def test_prepare_url_of_a_managed_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake("ollama", pulled="llama3.2") as url:
        target = managed_target(url, "t-oll", "ollama", "ollama", 11434)
        other = managed_target("http://127.0.0.1:1", "t-x", "vllm", "openai", 8000)
        result = prepare_endpoint(
            url=url.replace("127.0.0.1", "localhost"),
            model="llama3.2",
            targets_from_managed=[other, target],
        )
    ep = result.endpoint
    assert (ep.name, ep.llm_type, ep.api_type) == ("t-oll", "docker-container", "ollama")
    assert (ep.endpoint, ep.endpoint_container) == (url, "http://llmctl-t-oll:11434")


def test_prepare_managed_without_verify_uses_the_containers_api() -> None:
    target = managed_target("http://127.0.0.1:28000", "t-v", "vllm", "openai", 8000)
    result = prepare_endpoint(
        url="http://127.0.0.1:28000", model="m", verify=False, targets_from_managed=[target]
    )
    ep = result.endpoint
    assert (ep.api_type, ep.endpoint) == ("openai", "http://127.0.0.1:28000/v1")
    assert ep.endpoint_container == "http://llmctl-t-v:8000/v1"
    assert ep.llm_type == "docker-container"


def test_prepare_managed_model_runner_is_docker_model_runner() -> None:
    with fake("model-runner", pulled="ai/smollm2") as url:
        target = ManagedTarget(
            url=url,
            instance="model-runner",
            profile="model-runner",
            api="openai",
            container="docker-model-runner",
            endpoint_container="http://docker-model-runner:12434",
        )
        result = prepare_endpoint(model="ai/smollm2", targets_from_managed=[target])
    ep = result.endpoint
    assert ep.llm_type == "docker-model-runner"
    assert ep.endpoint == url + "/engines/v1"
    assert ep.endpoint_container == "http://docker-model-runner:12434/engines/v1"


def test_prepare_several_managed_lists_them_with_instances(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmctl import probe as probe_mod
    from tests.unit.test_probe import free_port

    monkeypatch.setattr(probe_mod, "DEFAULT_PORTS", (free_port(),))
    with fake("ollama", pulled="tinyllama") as a, fake("vllm") as b:
        targets = [
            managed_target(a, "t-a", "ollama", "ollama", 11434),
            managed_target(b, "t-b", "vllm", "openai", 8000),
        ]
        with pytest.raises(UsageError, match="several LLM servers answer") as info:
            prepare_endpoint(model="tinyllama", targets_from_managed=targets)
    assert f"{a} (ollama, llmctl instance t-a)" in info.value.message
    assert f"{b}/v1 (vllm, llmctl instance t-b)" in info.value.message


def test_prepare_unmanaged_keeps_the_host_docker_internal_guess() -> None:
    with fake("vllm") as url:
        target = managed_target("http://127.0.0.1:1", "t-x", "vllm", "openai", 8000)
        result = prepare_endpoint(url=url + "/v1", targets_from_managed=[target])
    ep = result.endpoint
    assert ep.llm_type == "openai-compatible" and ep.name == "openai-compatible"
    assert ep.endpoint_container == url.replace("127.0.0.1", "host.docker.internal") + "/v1"
    assert result.managed is None
