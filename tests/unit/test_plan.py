"""The container spec for the Ollama profile, computed without any I/O."""

from __future__ import annotations

import pytest

from llmctl.errors import UsageError
from llmctl.plan import UpOptions, parse_env, plan_container, validate_bind
from llmctl.profiles import load_profile


@pytest.fixture
def ollama():  # type: ignore[no-untyped-def]
    return load_profile("ollama")


def test_default_ollama_spec(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    assert spec.name == "llmctl-ollama" and spec.instance == "ollama"
    assert spec.image == ollama.image
    assert [(p.host_ip, p.host_port, p.container_port) for p in spec.ports] == [
        ("127.0.0.1", 11435, 11434)
    ]
    assert [(v.name, v.target) for v in spec.volumes] == [("ollama-data", "/root/.ollama")]
    assert spec.gpus is False and spec.exposed is False
    labels = spec.labels
    assert labels["io.llmctl.managed"] == "true"
    assert labels["io.llmctl.profile"] == "ollama"
    assert labels["io.llmctl.instance"] == "ollama"
    assert labels["io.llmctl.api"] == "ollama"
    assert len(labels["io.llmctl.spec-hash"]) == 16


def test_spec_hash_changes_with_what_matters(ollama) -> None:  # type: ignore[no-untyped-def]
    base = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    same = plan_container(ollama, UpOptions(), host_port=11435, gpu_available=False)
    other_port = plan_container(ollama, UpOptions(), host_port=11436, gpu_available=False)
    other_env = plan_container(ollama, UpOptions(env={"A": "1"}), host_port=11435,
                               gpu_available=False)
    h = "io.llmctl.spec-hash"
    assert base.labels[h] == same.labels[h]
    assert len({base.labels[h], other_port.labels[h], other_env.labels[h]}) == 3


def test_named_instance_gets_its_own_volume(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(name="work"), host_port=11500, gpu_available=False)
    assert spec.name == "llmctl-work"
    assert spec.volumes[0].name == "work-ollama-data"
    explicit = plan_container(ollama, UpOptions(name="work", volume="shared"), host_port=1,
                              gpu_available=False)
    assert explicit.volumes[0].name == "shared"


@pytest.mark.parametrize(("gpus", "available", "expected"),
                         [("auto", True, True), ("auto", False, False), ("all", False, True),
                          ("none", True, False)])
def test_gpu_choice(ollama, gpus: str, available: bool, expected: bool) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(gpus=gpus), host_port=1, gpu_available=available)
    assert spec.gpus is expected


def test_exposed_bind_is_flagged(ollama) -> None:  # type: ignore[no-untyped-def]
    spec = plan_container(ollama, UpOptions(bind="0.0.0.0"), host_port=1, gpu_available=False)
    assert spec.exposed is True and spec.to_dict()["exposed"] is True


@pytest.mark.parametrize("bind", ["localhost", "my-host", "300.1.1.1", ""])
def test_bind_must_be_a_literal_ip(bind: str) -> None:
    # A host name makes the daemon publish on every interface: refuse it.
    with pytest.raises(UsageError):
        validate_bind(bind)


@pytest.mark.parametrize("bad", ["NOEQUALS", "=x", "1A=b", "A B=c"])
def test_env_items_are_validated(bad: str) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_env([bad])


def test_env_allows_equals_in_values() -> None:
    assert parse_env(["A=b=c", "EMPTY="]) == {"A": "b=c", "EMPTY": ""}


@pytest.mark.parametrize(("opts", "msg"), [
    (UpOptions(name="Bad Name"), "--name"),
    (UpOptions(image="ollama/ollama"), "no tag"),
    (UpOptions(volume="bad/vol"), "--volume"),
    (UpOptions(gpus="some"), "--gpus"),
])
def test_bad_options(ollama, opts: UpOptions, msg: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=msg):
        plan_container(ollama, opts, host_port=11435, gpu_available=False)


# --- secrets: masked, out of the hash, fingerprinted with a salt ----------------------------

from pathlib import Path  # noqa: E402

from llmctl.plan import (  # noqa: E402
    LABEL_SECRETS,
    parse_secrets_label,
    secrets_changed,
    secrets_label,
    split_env,
)


def test_secret_looking_env_keys_are_split_off() -> None:
    plain, secret = split_env({"HF_TOKEN": "a", "my_api_key": "b", "DB_PASSWORD": "c",
                               "SECRET_X": "d", "OLLAMA_DEBUG": "1", "CUSTOM": "e"},
                              secret_names=["CUSTOM"])
    assert plain == {"OLLAMA_DEBUG": "1"}
    assert set(secret) == {"HF_TOKEN", "my_api_key", "DB_PASSWORD", "SECRET_X", "CUSTOM"}


def test_env_secret_never_in_env_hash_or_labels(ollama) -> None:  # type: ignore[no-untyped-def]
    a = plan_container(ollama, UpOptions(env={"MY_TOKEN": "value-one"}), host_port=1,
                       gpu_available=False, secret_salt="00ff")
    b = plan_container(ollama, UpOptions(env={"MY_TOKEN": "value-two"}), host_port=1,
                       gpu_available=False, secret_salt="00ff")
    assert "MY_TOKEN" not in a.env and a.secrets == {"MY_TOKEN": "value-one"}
    assert a.environment["MY_TOKEN"] == "value-one"  # what the container gets
    assert a.labels["io.llmctl.spec-hash"] == b.labels["io.llmctl.spec-hash"]
    assert a.labels[LABEL_SECRETS] != b.labels[LABEL_SECRETS]
    assert "value-one" not in str(a.labels) + str(a.to_dict())
    assert a.to_dict()["secrets"] == {"MY_TOKEN": "***"}


def test_fingerprint_is_salted_and_compares_per_secret() -> None:
    one = secrets_label({"HF_TOKEN": "x", "B_KEY": "y"}, "salt1")
    assert one == secrets_label({"B_KEY": "y", "HF_TOKEN": "x"}, "salt1")
    assert one.split(":", 2)[2] != secrets_label({"HF_TOKEN": "x", "B_KEY": "y"},
                                                 "salt2").split(":", 2)[2]
    assert parse_secrets_label(one) is not None
    assert secrets_changed(one, secrets_label({"HF_TOKEN": "x", "B_KEY": "z"}, "salt1")) == \
        (["B_KEY"], [])
    assert secrets_changed(one, secrets_label({"HF_TOKEN": "x"}, "salt1")) == ([], ["B_KEY"])
    assert secrets_changed(None, one) is None  # made by an llmctl that did not record it
    assert parse_secrets_label("garbage") is None


# --- --volume: what is a folder, which folders are never mounted without --yes ---------------

from llmctl.inputs import folder_risk, names_a_folder, resolve_volume  # noqa: E402


@pytest.mark.parametrize(("value", "folder"), [
    ("/data", True), ("~", True), ("~/x", True), ("./x", True), ("../x", True), (".", True),
    ("..", True), ("C:\\models", True), ("data", False), ("ollama-data", False),
    ("..data", False),
])
def test_only_explicit_paths_name_a_folder(value: str, folder: bool) -> None:
    assert names_a_folder(value) is folder


@pytest.mark.parametrize(("path", "risky"), [
    ("/", True), ("/etc", True), ("/etc/ssl", True), ("/usr/local/share", True),
    ("/var", True), ("/var/lib", True), ("/var/lib/docker", True), ("/run/user/1000", True),
    ("/boot", True), ("/dev", True), ("/sys/fs", True), ("/home", True),
    ("/home/me", True), ("/home/me/models", False), ("/srv/llm", False),
    ("/var/lib/llm", False), ("/tmp/x", False), ("/opt/models", False),
])
def test_folder_risk(path: str, risky: bool) -> None:
    assert (folder_risk(Path(path), home=Path("/home/me")) is not None) is risky


def test_socket_folder_and_its_parents(tmp_path: Path) -> None:
    sock = str(tmp_path / "d" / "docker.sock")
    risk = folder_risk(tmp_path / "d", home=Path("/home/me"), sockets=(sock,))
    assert risk and "Docker socket" in risk
    assert folder_risk(tmp_path, home=Path("/home/me"), sockets=(sock,))
    assert folder_risk(tmp_path / "e", home=Path("/home/me"), sockets=(sock,)) is None


def test_resolve_volume_resolves_and_confirms(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    choice = resolve_volume("./data", cwd=tmp_path, home=Path("/home/me"))
    assert (choice.kind, choice.value) == ("folder", str((tmp_path / "data").resolve()))
    assert resolve_volume("data", cwd=tmp_path).kind == "volume"
    assert resolve_volume("data", cwd=tmp_path).warnings  # the folder ./data is pointed out
    with pytest.raises(UsageError) as err:
        resolve_volume("/etc")
    assert "--yes" in (err.value.hint or "")
    assert resolve_volume("/etc", confirmed=True).warnings
