"""`llmctl up/down/status ollama` against a real Docker engine and the fake Ollama image.

The fake (tests/fakes/llmfake.py) stands in for the ollama/ollama image: same port, same
routes, models stored under /root/.ollama so the volume really persists them.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import time
import urllib.request

import pytest

from tests.support import publish_port as free_port

pytestmark = pytest.mark.docker


def http_json(url: str, body: dict | None = None) -> dict:  # type: ignore[type-arg]
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    return json.loads(text.strip().splitlines()[-1])


def containers(docker_client, instance: str) -> list:  # type: ignore[no-untyped-def,type-arg]
    return docker_client.containers.list(
        all=True, filters={"label": f"io.llmctl.instance={instance}"})


def test_full_lifecycle_keeps_models_in_the_volume(
    cli, docker_client, instance: str, pullable_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    up = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", pullable_image,
             "--timeout", "60", "--progress", "plain")
    assert up.code == 0, up.stderr
    # The image was not present: it was pulled through the streaming API, with progress.
    assert up.stderr.count(f"pulling {pullable_image}") == 1  # said once
    assert f"endpoint (this machine):   http://127.0.0.1:{port}" in up.stdout
    assert f"llmctl-{instance}:11434" in up.stdout  # the endpoint for other containers
    (c,) = containers(docker_client, instance)
    c.reload()
    binding = c.attrs["HostConfig"]["PortBindings"]["11434/tcp"][0]
    assert binding == {"HostIp": "127.0.0.1", "HostPort": str(port)}
    mounts = {m["Name"]: m["Destination"] for m in c.attrs["Mounts"]}
    assert mounts == {f"{instance}-ollama-data": "/root/.ollama"}
    vol = docker_client.volumes.get(f"{instance}-ollama-data")
    assert vol.attrs["Labels"]["io.llmctl.managed"] == "true"

    # Really answering, from the host.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.read().decode() == "Ollama is running"

    st = cli("status", "--json")
    assert st.code == 0, st.stderr
    mine = [s for s in st.json()["result"]["servers"] if s["instance"] == instance]
    assert len(mine) == 1 and mine[0]["health"] == "ok" and mine[0]["state"] == "running"
    assert mine[0]["endpoint"] == f"http://127.0.0.1:{port}"

    # A second `up` changes nothing.
    again = cli("up", "ollama", "--name", instance, "--port", str(port), "--image",
                pullable_image, "--json")
    assert again.code == 0, again.stderr
    assert again.json()["result"]["action"] == "reused"
    (c2,) = containers(docker_client, instance)
    assert c2.id == c.id

    # Put a model in, then down: container gone, volume kept.
    assert http_json(f"http://127.0.0.1:{port}/api/pull",
                     {"model": "tinyllama", "stream": False})["status"] == "success"
    down = cli("down", "ollama", "--name", instance)
    assert down.code == 0, down.stderr
    assert f"removed container llmctl-{instance}" in down.stdout
    assert f"kept volume {instance}-ollama-data" in down.stdout
    assert containers(docker_client, instance) == []
    docker_client.volumes.get(f"{instance}-ollama-data")

    # Up again: the model pulled before is still there.
    up2 = cli("up", "ollama", "--name", instance, "--port", str(port), "--image",
              pullable_image, "--json", "--timeout", "60")
    assert up2.code == 0, up2.stderr
    assert up2.json()["result"]["action"] == "created"
    tags = http_json(f"http://127.0.0.1:{port}/api/tags")
    assert [m["name"] for m in tags["models"]] == ["tinyllama:latest"]

    gone = cli("down", "ollama", "--name", instance, "--volumes", "--yes", "--json")
    assert gone.code == 0, gone.stderr
    assert gone.json()["result"]["volumes_removed"] == [f"{instance}-ollama-data"]
    assert containers(docker_client, instance) == []
    assert not [v for v in docker_client.volumes.list() if v.name.startswith(instance)]


def test_port_taken_by_host_process(cli, docker_client, instance: str, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image)
    assert res.code == 5, res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"error: port {port} on 127.0.0.1 is taken by host process pid ")
    assert "python" in first
    assert "hint: Use a free port, e.g. --port " in res.stderr
    assert res.stdout == ""
    assert containers(docker_client, instance) == []  # nothing left behind


def test_port_taken_by_another_container(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    other = docker_client.containers.run(
        fake_image, detach=True, name=f"{instance}-other", labels={"io.llmctl.test": "1"},
        ports={"11434/tcp": ("127.0.0.1", port)})
    try:
        res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image",
                  fake_image, "--json")
        assert res.code == 5
        err = res.json()["error"]
        assert f"container {instance}-other" in err["message"]
        assert err["details"]["holder_kind"] == "container"
        assert err["details"]["suggested_port"] not in (None, port)
        assert f"docker stop {instance}-other" in err["hint"]
        assert containers(docker_client, instance) == []
    finally:
        other.remove(force=True)


def test_default_port_taken_moves_to_next_free_and_says_so(
    cli, docker_client, instance: str, fake_image: str, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    # A profile of the user's whose default port is taken: without --port, llmctl moves on.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        prof = tmp_path / "myollama.yaml"
        prof.write_text(
            "name: myollama\nkind: ollama\nimage: ollama/ollama:0.17.1\ncontainer_port: 11434\n"
            f"host_port: {taken}\nvolumes:\n  - name: {instance}-data\n    target: /root/.ollama\n"
            "readiness:\n  path: /\n  contains: Ollama is running\n")
        res = cli("up", "myollama", "--name", instance, "--image", fake_image, "--json",
                  env={"LLMCTL_PROFILES_DIR": str(tmp_path)})
        assert res.code == 0, res.stderr
        doc = res.json()["result"]
        assert doc["host_port"] != taken
        assert f"port {taken} is taken by host process" in res.stderr
        assert doc["port_note"].endswith(f"using {doc['host_port']}")
    cli("down", "myollama", "--name", instance, env={"LLMCTL_PROFILES_DIR": str(tmp_path)})


def test_two_concurrent_ups_leave_one_container(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    args = ("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
            "--json", "--timeout", "60")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: cli(*args), range(2)))
    assert [r.code for r in results] == [0, 0], [r.stdout + r.stderr for r in results]
    actions = sorted(r.json()["result"]["action"] for r in results)
    assert actions in (["created", "reused"], ["created", "started"])
    assert len(containers(docker_client, instance)) == 1
    assert "Traceback" not in "".join(r.stderr for r in results)


def test_changed_spec_is_refused_then_recreated(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    base = ("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image)
    assert cli(*base, "--no-wait").code == 0
    changed = cli(*base, "--env", "OLLAMA_DEBUG=1", "--no-wait")
    assert changed.code == 5
    assert "exists with a different spec" in changed.stderr and "--recreate" in changed.stderr
    redo = cli(*base, "--env", "OLLAMA_DEBUG=1", "--recreate", "--json")
    assert redo.code == 0, redo.stderr
    assert redo.json()["result"]["action"] == "recreated"
    (c,) = containers(docker_client, instance)
    assert "OLLAMA_DEBUG=1" in c.attrs["Config"]["Env"]


def test_container_that_exits_at_once_reports_its_logs(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    started = time.monotonic()
    res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
              "--env", "LLMFAKE_EXIT_AFTER=0", "--timeout", "60")
    assert res.code == 6, res.stderr
    assert time.monotonic() - started < 30  # fails fast, not at the timeout
    assert "before the server was ready" in res.stderr
    assert "Last log lines:" in res.stderr
    assert containers(docker_client, instance) == []  # this run's container is removed
    assert "Traceback" not in res.stderr


def test_readiness_timeout(cli, docker_client, instance: str, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    # The fake answers every route with an HTML page: never "Ollama is running".
    res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
              "--env", "LLMFAKE_HTML=1", "--timeout", "3", "--json")
    assert res.code == 6
    err = res.json()["error"]
    assert "was not ready after 3 s" in err["message"]
    assert containers(docker_client, instance) == []


def test_expose_with_yes_warns_and_binds_all(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    res = cli("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
              "--bind", "0.0.0.0", "--yes", "--json")
    assert res.code == 0, res.stderr
    assert res.json()["result"]["exposed"] is True
    assert "no authentication" in res.stderr
    (c,) = containers(docker_client, instance)
    assert c.attrs["HostConfig"]["PortBindings"]["11434/tcp"][0]["HostIp"] == "0.0.0.0"


def test_missing_image_tag_fails_closed(cli, docker_client, instance: str, registry: str) -> None:  # type: ignore[no-untyped-def]
    image = f"{registry}/llmctl-test/fake:no-such-tag"
    res = cli("up", "ollama", "--name", instance, "--port", str(free_port()), "--image", image)
    assert res.code == 7, res.stderr
    assert f"image {image} was not found" in res.stderr
    assert containers(docker_client, instance) == []


def test_daemon_unreachable_fails_fast(cli) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    res = cli("status", env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
    assert res.code == 4
    assert time.monotonic() - started < 6
    assert res.stderr.startswith("error: cannot reach the Docker daemon")


def test_nonexistent_context(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = cli("up", "ollama", env={"DOCKER_CONTEXT": "nope", "DOCKER_CONFIG": str(tmp_path)})
    assert res.code == 4
    assert 'Docker context "nope" not found' in res.stderr
    assert "docker context ls" in res.stderr


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_during_readiness_wait_cleans_up(
    docker_client, instance: str, fake_image: str, sig: str, code: int  # type: ignore[no-untyped-def]
) -> None:
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmctl", "up", "ollama", "--name", instance, "--port", str(port),
         "--image", fake_image, "--env", "LLMFAKE_HTML=1", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NO_COLOR": "1"})
    # Wait until the container exists and llmctl is polling it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [
        c for c in containers(docker_client, instance) if c.status == "running"
    ]:
        time.sleep(0.2)
    time.sleep(1.0)
    sent = time.monotonic()
    proc.send_signal(getattr(signal, sig))
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert time.monotonic() - sent < 5
    assert err.strip().splitlines()[-1] in ("error: interrupted", "error: terminated")
    assert "Traceback" not in err
    assert containers(docker_client, instance) == []  # what this run created is gone


def test_down_during_up_ends_cleanly(cli, docker_client, instance: str, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    # `up` waits on a server that never gets ready; `down` removes it meanwhile: `up` ends
    # with "not ready" (exit 6), no traceback, nothing left behind.
    port = free_port()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(cli, "up", "ollama", "--name", instance, "--port", str(port),
                              "--image", fake_image, "--env", "LLMFAKE_HTML=1",
                              "--timeout", "60")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not containers(docker_client, instance):
            time.sleep(0.2)
        time.sleep(0.5)
        down = cli("down", "ollama", "--name", instance)
        up = waiting.result(timeout=90)
    assert down.code == 0, down.stderr
    assert up.code == 6, up.stderr
    assert "the container was removed" in up.stderr and "Traceback" not in up.stderr
    assert containers(docker_client, instance) == []


# --- hardening (issue 10) ---------------------------------------------------------------------

def test_offline_pull_is_said_once_and_names_the_ways_out(
    cli, docker_client, instance: str  # type: ignore[no-untyped-def]
) -> None:
    # A registry that cannot be resolved (.invalid never resolves): what an offline engine
    # meets for docker.io. The error names --image, `docker pull` and `docker load`.
    image = f"llmctl-test.invalid/{instance}/ollama:0.17.1"
    res = cli("up", "ollama", "--name", instance, "--port", str(free_port()), "--image", image,
              "--progress", "plain")
    assert res.code == 1, res.stderr
    assert res.stdout == ""
    said = [line for line in res.stderr.splitlines() if not line.startswith(("error:", "hint:"))]
    assert said == [f"pulling {image}"]  # once: no "note: pulling image" besides
    first, hint = [line for line in res.stderr.splitlines()
                   if line.startswith(("error:", "hint:"))]
    assert first.startswith(f"error: pulling image {image} failed: this Docker engine cannot "
                            "reach its registry")
    for needle in ("--image REF", f"docker pull {image}", "docker load"):
        assert needle in hint
    assert containers(docker_client, instance) == []


def test_port_conflict_hint_names_the_instance_holding_it(
    cli, docker_client, ollama_up, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    holder, url = ollama_up
    port = url.rsplit(":", 1)[1]
    other = f"{holder}-b"
    try:
        res = cli("up", "ollama", "--name", other, "--port", port, "--image", fake_image)
        assert res.code == 5, res.stderr
        assert f"llmctl's container llmctl-{holder} (instance {holder})" in res.stderr
        assert f"Or stop it with `llmctl down ollama --name {holder}`." in res.stderr
        assert "..." not in res.stderr
    finally:
        for c in containers(docker_client, other):
            c.remove(force=True)


def test_changed_secret_is_reported_and_recreate_applies_it(
    cli, docker_client, instance: str, fake_image: str  # type: ignore[no-untyped-def]
) -> None:
    # A secret-looking --env taken from the environment (`-e KEY`): never in argv, output
    # or labels; a changed value is found by its salted fingerprint.
    port = free_port()
    base = ("up", "ollama", "--name", instance, "--port", str(port), "--image", fake_image,
            "-e", "LLMCTL_TEST_TOKEN", "--no-wait")
    first = cli(*base, "--json", env={"LLMCTL_TEST_TOKEN": "tok-one-1111"})
    assert first.code == 0, first.stderr
    (c,) = containers(docker_client, instance)
    assert "LLMCTL_TEST_TOKEN=tok-one-1111" in c.attrs["Config"]["Env"]
    label = c.labels["io.llmctl.secrets"]
    assert "tok-one" not in label and "LLMCTL_TEST_TOKEN=" in label
    same = cli(*base, "--json", env={"LLMCTL_TEST_TOKEN": "tok-one-1111"})
    assert same.code == 0 and same.json()["result"]["action"] in ("reused", "started")
    changed = cli(*base, env={"LLMCTL_TEST_TOKEN": "tok-two-2222"})
    assert changed.code == 5
    assert (f"error: llmctl-{instance} runs with another LLMCTL_TEST_TOKEN than the one given "
            "now") in changed.stderr
    assert "--recreate" in changed.stderr
    assert "tok-" not in changed.stdout + changed.stderr
    redo = cli(*base, "--recreate", "--json", env={"LLMCTL_TEST_TOKEN": "tok-two-2222"})
    assert redo.code == 0, redo.stderr
    assert redo.json()["result"]["action"] == "recreated"
    assert "tok-" not in redo.stdout + redo.stderr
    (c,) = containers(docker_client, instance)
    assert "LLMCTL_TEST_TOKEN=tok-two-2222" in c.attrs["Config"]["Env"]


def test_host_folder_is_named_in_the_output(
    cli, docker_client, instance: str, fake_image: str, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    data = tmp_path / "ollama-data"
    data.mkdir()
    res = cli("up", "ollama", "--name", instance, "--port", str(free_port()), "--image",
              fake_image, "--volume", "./ollama-data", "--no-wait", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert (f"  host folder: {data.resolve()} -> /root/.ollama (read-write)"
            in res.stdout.splitlines())
    (c,) = containers(docker_client, instance)
    (mount,) = c.attrs["Mounts"]
    assert (mount["Type"], mount["Source"], mount["RW"]) == ("bind", str(data.resolve()), True)


def test_bad_name_is_a_usage_error_before_the_engine(cli) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = {"DOCKER_HOST": f"tcp://127.0.0.1:{s.getsockname()[1]}"}
    for args in (("up", "ollama", "--name", "a/b"), ("down", "--name", "a/b"),
                 ("up", "ollama", "--name", "")):
        res = cli(*args, env=dead)
        assert res.code == 2, (args, res.stderr)
        assert res.stderr.startswith("error: --name")
