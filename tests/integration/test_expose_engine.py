"""`llmctl expose` on the real engine, with a real reverse proxy: Debian's Caddy (2.6.2) in the
test base image, shaped like the official image (``infra.ensure_proxy_image``; no registry),
in front of the fake Ollama (tests/fakes, which logs every request it gets with
``LLMFAKE_VERBOSE``) and of the real llama.cpp server with SmolLM2 (whose Prometheus
counters say how many prompt tokens it processed).

Everything is published on 127.0.0.1 only: no traffic leaves this machine. Each test removes
what it made (`llmctl down --volumes` removes the server and its proxy).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration import infra
from tests.integration.conftest import CliResult, run_cli
from tests.support import need, publish_port

pytestmark = pytest.mark.docker

REQUEST_LINE = re.compile(r'"(GET|POST|HEAD|DELETE|PUT) /')


@pytest.fixture(scope="session")
def proxy_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    try:
        return infra.ensure_proxy_image(docker_client)
    except infra.InfraError as exc:
        need(False, f"needs the proxy test image (Debian's caddy): {exc}")
        raise


@pytest.fixture
def servers(docker_client, fake_image: str) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Starts fake Ollama servers (`llmctl up ollama --name t-...`, loopback, verbose) and
    takes them down at the end, their proxies with them."""
    made: list[str] = []

    def start(*env: str) -> str:
        name = f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}"
        made.append(name)
        extra = [a for e in ("LLMFAKE_PULLED=tinyllama", "LLMFAKE_VERBOSE=1", *env)
                 for a in ("--env", e)]
        res = run_cli("up", "ollama", "--name", name, "--port", str(publish_port()), "--image",
                      fake_image, *extra, "--timeout", "60", "--progress", "none")
        assert res.code == 0, res.stderr
        return name

    yield start
    for name in made:
        run_cli("down", "ollama", "--name", name, "--volumes", "--yes")
        cleanup(docker_client, name)


def cleanup(docker_client, name: str) -> None:  # type: ignore[no-untyped-def]
    import docker

    for c in docker_client.containers.list(all=True, filters={"label": [
            f"io.llmctl.proxy-for={name}"]}) + docker_client.containers.list(
            all=True, filters={"label": [f"io.llmctl.instance={name}"]}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True, v=True)
    for vol in (f"llmctl-proxy-{name}-data",):
        with contextlib.suppress(docker.errors.APIError):
            docker_client.volumes.get(vol).remove(force=True)


def expose(name: str, image: str, *args: str, port: int | None = None) -> tuple[CliResult,
                                                                                 dict[str, Any]]:
    listen = f"127.0.0.1:{port or publish_port()}"
    res = run_cli("expose", name, "--listen", listen, "--proxy-image", image, *args, "--json")
    assert res.code == 0, res.stderr + res.stdout
    return res, res.json()["result"]


def entry(name: str) -> dict[str, Any]:
    """The endpoint file entry, read as the MCP client reads it (token included)."""
    path = Path(os.environ["LLMCTL_CONFIG_DIR"]) / "endpoints.yaml"
    assert path.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(path.read_text())
    return dict(doc["endpoints"][f"{name}-exposed"], default=doc.get("default"))


def requests_seen(docker_client, container: str) -> int:  # type: ignore[no-untyped-def]
    """How many requests the fake server logged (LLMFAKE_VERBOSE: one line per request)."""
    logs = docker_client.containers.get(container).logs().decode("utf-8", "replace")
    return len(REQUEST_LINE.findall(logs))


def ask(url: str, key: str | None = None, *, path: str = "/", method: str = "GET",
        verify: Any = True, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if isinstance(verify, str):  # a CA file: trust it alone
        import ssl

        verify = ssl.create_default_context(cafile=verify)
    return httpx.request(method, url + path, headers=headers, timeout=10, verify=verify,
                         trust_env=False, **kw)


def no_secret(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text


def test_only_the_key_gets_through_and_every_client_uses_it(  # type: ignore[no-untyped-def]
        docker_client, servers, proxy_image: str) -> None:
    name = servers()
    server = f"llmctl-{name}"
    res, doc = expose(name, proxy_image)
    assert doc["action"] == "created" and doc["ready"] is True and doc["tls"] == "off"
    url, proxy = doc["url"], doc["proxy"]
    ep = entry(name)
    key = ep["bearer_token"]
    assert len(key) == 43 and ep["endpoint"] == url and ep["default"] == f"{name}-exposed"
    assert ep["endpoint_container"] == f"http://{proxy}:8080" and ep["model"] == "tinyllama:latest"

    # The key is nowhere but the endpoint file and the proxy's config file.
    no_secret(key, res.stdout, res.stderr, json.dumps(docker_client.api.inspect_container(proxy)),
              json.dumps(docker_client.api.inspect_container(server)))
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    no_secret(key, ps.stdout)

    # No header, a wrong key: 401 with no body, and the server saw none of it.
    before = requests_seen(docker_client, server)
    for r in (ask(url), ask(url, "wrong"), ask(url, key[:-1]), ask(url, f"{key}x"),
              ask(url, "wrong", path="/api/chat", method="POST",
                  json={"model": "tinyllama", "messages": [{"role": "user", "content": "x"}]}),
              httpx.get(url + "/api/tags", headers={"Authorization": key}, trust_env=False)):
        assert r.status_code == 401 and r.content == b"", r
        assert r.headers["www-authenticate"] == "Bearer"

    # The right key: probe (the configured token for that URL), chat (streamed, the default
    # endpoint), pull, the library; each reaches the server.
    probe = run_cli("probe", url, "--json")
    assert probe.code == 0, probe.stderr
    (found,) = probe.json()["result"]["results"]
    assert (found["status"], found["server"]) == ("ready", "ollama")
    assert "tinyllama:latest" in found["models"]
    chat = run_cli("chat", "Hello")
    assert chat.code == 0, chat.stderr
    assert "fake model" in chat.stdout and f"via {url} (ollama): first token" in chat.stderr
    pull = run_cli("pull", "qwen2.5:0.5b", "--endpoint", url, "--progress", "none")
    assert pull.code == 0, pull.stderr
    tags = ask(url, key, path="/api/tags").json()["models"]
    assert {"qwen2.5:0.5b", "tinyllama:latest"} <= {m["name"] for m in tags}
    from llmctl.client import chat as client_chat

    pieces: list[str] = []
    reply = client_chat("Hello", stream=True, on_token=pieces.append)
    assert reply.text.startswith("Hello! I am a fake model") and len(pieces) > 3
    assert requests_seen(docker_client, server) > before
    no_secret(key, probe.stdout, probe.stderr, chat.stdout, chat.stderr, pull.stdout,
              pull.stderr, docker_client.containers.get(proxy).logs().decode("utf-8", "replace"))

    # A key for another endpoint: 401 here too, and the first server saw nothing of it.
    other = servers()
    expose(other, proxy_image)
    other_key = entry(other)["bearer_token"]
    assert other_key != key
    seen = requests_seen(docker_client, server)
    assert ask(url, other_key).status_code == 401
    assert ask(entry(other)["endpoint"], other_key).status_code == 200
    assert requests_seen(docker_client, server) == seen

    # status shows the exposure; doctor counts a loopback proxy as nothing exposed.
    st = run_cli("status", "--json")
    assert st.code == 0, st.stderr
    mine = {p["instance"]: p for p in st.json()["result"]["proxies"]}[name]
    assert (mine["proxy"], mine["listen"], mine["tls"], mine["health"], mine["exposed"]) == (
        proxy, doc["listen"], "off", "ok", False)
    assert 0 <= mine["key_age_s"] < 600 and mine["upstream"] == server
    human = run_cli("status")
    section = human.stdout.split("Exposed through llmctl's authenticating proxy")[1]
    row = next(line for line in section.splitlines() if line.startswith(f"{name} "))
    assert row.split()[:4] == [name, proxy, doc["listen"], "off"]
    assert row.split()[-3:] == ["running", "ok", server]
    no_secret(key, st.stdout, human.stdout)
    doctor = run_cli("doctor", "--check", "exposure", "--json")
    (check,) = doctor.json()["result"]["checks"]
    assert all(e["container"] not in (proxy, server) for e in check["data"]["exposed"])


def test_rotate_key_keeps_the_server_running(  # type: ignore[no-untyped-def]
        docker_client, servers, proxy_image: str) -> None:
    name = servers()
    server = docker_client.api.inspect_container(f"llmctl-{name}")
    _, doc = expose(name, proxy_image)
    url, old = doc["url"], entry(name)["bearer_token"]
    port = int(doc["listen"].rsplit(":", 1)[1])
    again_res, again = expose(name, proxy_image, port=port)
    assert again["action"] == "reused" and entry(name)["bearer_token"] == old
    res, rotated = expose(name, proxy_image, "--rotate-key", port=port)
    assert rotated["action"] == "rotated" and rotated["key_rotated"] is True
    new = entry(name)["bearer_token"]
    assert new != old and rotated["url"] == url
    assert ask(url, old).status_code == 401
    assert ask(url, new).status_code == 200
    no_secret(new, res.stdout, res.stderr)
    no_secret(old, res.stdout, res.stderr, again_res.stdout)
    # The LLM server was not restarted: same container, same start time.
    now = docker_client.api.inspect_container(f"llmctl-{name}")
    assert (now["Id"], now["State"]["StartedAt"]) == (server["Id"], server["State"]["StartedAt"])


def _arrivals(url: str, key: str, path: str, body: dict[str, Any]) -> list[float]:
    """When each streamed line arrived, in seconds from the request."""
    t0 = time.monotonic()
    seen: list[float] = []
    with httpx.stream("POST", url + path, json=body, timeout=30, trust_env=False,
                      headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.strip() and line.strip() != "data: [DONE]":
                seen.append(time.monotonic() - t0)
    return seen


def test_streams_pass_through_unbuffered(  # type: ignore[no-untyped-def]
        servers, proxy_image: str) -> None:
    """A server that sends a token every 0.25 s: through the proxy the first one still
    arrives at once and the others one by one (NDJSON and SSE), never all at the end."""
    name = servers("LLMFAKE_TOKEN_DELAY=0.25", "LLMFAKE_REPLY=one two three four five six")
    _, doc = expose(name, proxy_image)
    key = entry(name)["bearer_token"]
    messages = [{"role": "user", "content": "count"}]
    for path, body in (("/api/chat", {"model": "tinyllama", "messages": messages}),
                       ("/v1/chat/completions", {"model": "tinyllama", "messages": messages,
                                                 "stream": True})):
        times = _arrivals(doc["url"], key, path, body)
        assert len(times) >= 6, (path, times)
        total = times[-1]
        assert total >= 1.2, (path, times)  # six tokens 0.25 s apart
        assert times[0] < total - 1.0, (path, times)  # the first long before the end
        gaps = [b - a for a, b in itertools.pairwise(times[:6])]
        assert min(gaps) > 0.1, (path, times)  # one by one, not in a burst


def test_tls_internal_trusts_the_proxy_ca_for_that_endpoint_only(  # type: ignore[no-untyped-def]
        docker_client, servers, proxy_image: str) -> None:
    name, other = servers(), servers()
    _, doc = expose(name, proxy_image, "--tls", "internal")
    ep = entry(name)
    url, key, ca = doc["url"], ep["bearer_token"], ep["ca_file"]
    assert url.startswith("https://127.0.0.1:") and doc["ca_file"] == ca
    assert Path(ca).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert ep["endpoint_container"] == f"https://{doc['proxy']}:8443"
    # The certificate is real TLS: the system's CAs do not trust it, the proxy's CA does.
    with pytest.raises(httpx.ConnectError):
        ask(url, key)
    assert ask(url, key, verify=ca).status_code == 200
    assert ask(url, verify=ca).status_code == 401
    # The CLI and the library use the entry's CA (and key) with no extra step.
    chat = run_cli("chat", "Hello")
    assert chat.code == 0 and "fake model" in chat.stdout, chat.stderr
    probe = run_cli("probe", url, "--json")
    (found,) = probe.json()["result"]["results"]
    assert found["status"] == "ready", found
    from llmctl.client import chat as client_chat

    assert client_chat("Hello", stream=True).text.startswith("Hello! I am a fake model")
    # Another exposed server has another CA: this one's CA does not vouch for it.
    _, other_doc = expose(other, proxy_image, "--tls", "internal")
    other_ca = entry(other)["ca_file"]
    assert Path(other_ca).read_bytes() != Path(ca).read_bytes()
    with pytest.raises(httpx.ConnectError):
        ask(other_doc["url"], entry(other)["bearer_token"], verify=ca)
    from llmctl.backends.http import make_client

    with make_client(other_doc["url"], headers={  # the factory: the CA of that origin
            "Authorization": f"Bearer {entry(other)['bearer_token']}"}) as client:
        assert client.get("/").status_code == 200

    # unexpose: proxy, entry and CA file gone (its volume too with --volumes); the server runs.
    out = run_cli("unexpose", name, "--volumes", "--json")
    assert out.code == 0, out.stderr
    result = out.json()["result"]
    assert result["removed"] == [doc["proxy"]] and result["endpoint_removed"] == f"{name}-exposed"
    assert result["volumes_removed"] == [f"llmctl-proxy-{name}-data"]
    assert not Path(ca).exists()
    assert docker_client.containers.get(f"llmctl-{name}").status == "running"
    with pytest.raises(httpx.ConnectError):
        ask(url, key, verify=False)


def test_down_removes_the_proxy_and_leaves_no_volume(  # type: ignore[no-untyped-def]
        docker_client, servers, proxy_image: str) -> None:
    name = servers()
    _, doc = expose(name, proxy_image)
    mounts = [m["Name"] for m in docker_client.api.inspect_container(doc["proxy"])["Mounts"]
              if m.get("Type") == "volume"]
    assert mounts  # the image declares /config and /data as volumes, as the official one does
    res = run_cli("down", "ollama", "--name", name, "--json")
    assert res.code == 0, res.stderr
    assert res.json()["result"]["removed"] == [doc["proxy"], f"llmctl-{name}"]
    names = {v.name for v in docker_client.volumes.list()}
    assert not names & set(mounts)  # its anonymous volumes went with it
    import docker

    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(doc["proxy"])


def test_bad_requests_leave_nothing_behind(  # type: ignore[no-untyped-def]
        docker_client, servers, proxy_image: str) -> None:
    name = servers()
    # Beyond loopback without a terminal and without --yes: refused before Docker is asked,
    # the risks named (TLS off: the key in clear).
    res = run_cli("expose", name, "--listen", "0.0.0.0:1", "--proxy-image", proxy_image)
    assert res.code == 2
    assert "the key, every prompt and every answer travel in clear text" in res.stderr
    assert "error: --listen 0.0.0.0:1: confirmation needed and stdin is not a terminal" \
        in res.stderr
    for args, code, says in [
        (["nope-x"], 7, "error: no server llmctl runs is named 'nope-x'"),
        ([name, "--tls", "acme"], 2, "error: --tls 'acme' is not one of off, internal"),
        ([name, "--proxy-image", "caddy"], 2, "error: --proxy-image: 'caddy' has no tag"),
        ([name, "--listen", "localhost:80"], 2, "is not an IP address"),
    ]:
        res = run_cli("expose", *args)
        assert res.code == code and says in res.stderr, (args, res.stderr)
    assert docker_client.containers.list(
        all=True, filters={"label": f"io.llmctl.proxy-for={name}"}) == []
    assert run_cli("unexpose", name).code == 7


# --- the real llama.cpp server ---------------------------------------------------------------


def metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5, trust_env=False).text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, text[:300]
    return float(found.group(1))


def test_real_llamacpp_behind_the_proxy(  # type: ignore[no-untyped-def]
        docker_client, llamacpp_image: str, smollm2_gguf: Path, proxy_image: str) -> None:
    name = f"{infra.TEST_PREFIX}{uuid.uuid4().hex[:8]}"
    port = publish_port()
    direct = f"http://127.0.0.1:{port}"
    try:
        up = run_cli("up", "llamacpp", "--name", name, "--port", str(port), "--image",
                     llamacpp_image, "--model-file", str(smollm2_gguf),
                     "-e", "LLAMA_ARG_THREADS=2", "-e", "LLAMA_ARG_CTX_SIZE=1024",
                     "-e", "LLAMA_ARG_N_PREDICT=16", "-e", "LLAMA_ARG_ENDPOINT_METRICS=1",
                     "--timeout", "180", "--progress", "none")
        assert up.code == 0, up.stderr
        _, doc = expose(name, proxy_image)
        ep = entry(name)
        key, url = ep["bearer_token"], doc["url"]
        assert url.endswith("/v1") and ep["api_type"] == "openai"
        assert ep["model"] == infra.SMOLLM2_FILE.removesuffix(".gguf")
        root = url.removesuffix("/v1")
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        before = metric(direct, "llamacpp:prompt_tokens_total")
        for k in (None, "wrong", key[::-1]):
            r = ask(root, k, path="/v1/chat/completions", method="POST", json=body)
            assert r.status_code == 401 and r.content == b""
        assert metric(direct, "llamacpp:prompt_tokens_total") == before  # nothing processed

        probe = run_cli("probe", root, "--json")
        (found,) = probe.json()["result"]["results"]
        assert (found["status"], found["server"]) == ("ready", "llamacpp"), found
        chat = run_cli("chat", "The capital of France is")
        assert chat.code == 0 and chat.stdout.strip(), chat.stderr
        assert f"via {url} (openai): first token" in chat.stderr
        from llmctl.client import chat as client_chat

        pieces: list[str] = []
        reply = client_chat("Say hello.", stream=True, on_token=pieces.append)
        assert reply.text and pieces
        assert metric(direct, "llamacpp:prompt_tokens_total") > before
        no_secret(key, chat.stdout, chat.stderr, probe.stdout)
    finally:
        run_cli("down", "llamacpp", "--name", name, "--volumes", "--yes")
        cleanup(docker_client, name)


def test_export_takes_the_proxy_along_without_the_key(  # type: ignore[no-untyped-def]
        servers, proxy_image: str) -> None:
    """`llmctl export compose|kube NAME` of an exposed server, read from the real containers:
    the proxy is one more service, its key a variable named, never valued."""
    name = servers()
    _, doc = expose(name, proxy_image, "--tls", "internal")
    key = entry(name)["bearer_token"]
    res = run_cli("export", "compose", name, "-o", "-")
    assert res.code == 0, res.stderr
    no_secret(key, res.stdout, res.stderr)
    compose = yaml.safe_load(res.stdout)
    var = re.sub(r"[^A-Z0-9]+", "_", name.upper()) + "_PROXY_KEY"
    proxy = compose["services"][f"{name}-proxy"]
    assert proxy["image"] == proxy_image and proxy["environment"] == {var: None}
    assert proxy["ports"] == [f"{doc['listen']}:8443"]
    content = compose["configs"][f"{doc['proxy']}-caddyfile"]["content"]
    assert f"{{$${var}}}" in content and f"reverse_proxy llmctl-{name}:11434" in content
    kube = run_cli("export", "kube", name, "-o", "-")
    assert kube.code == 0, kube.stderr
    no_secret(key, kube.stdout)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(kube.stdout)]
    assert ("ConfigMap", f"{name}-proxy-caddyfile") in kinds
    assert ("Deployment", f"{name}-proxy") in kinds


def test_the_exported_caddyfile_takes_the_key_from_the_environment_and_fails_closed(  # type: ignore[no-untyped-def]
        servers, proxy_image: str) -> None:
    """What `llmctl export` gives the proxy (llmctl/export/proxy.py): the key in a variable.
    On the real Caddy: set, only that key gets through; unset or short, nothing does."""
    from llmctl.engine import connect
    from llmctl.expose import caddy
    from llmctl.plan import ContainerFile, ContainerSpec, PortBinding

    name = servers()
    text = caddy.render(upstream=f"llmctl-{name}:11434", key=None, key_env="T_PROXY_KEY",
                        port=8080)
    key = "k" * 40
    engine = connect()
    for env, status in (({"T_PROXY_KEY": key}, 200), ({}, 401), ({"T_PROXY_KEY": "short"}, 401)):
        port = publish_port()
        spec = ContainerSpec(
            name=f"{name}-envkey", instance=name, profile="proxy", api="ollama",
            image=proxy_image, command=(), env=env, ports=(PortBinding("127.0.0.1", port, 8080),),
            volumes=(), gpus=False, labels={"io.llmctl.test": "1"}, restart="no",
            files=(ContainerFile(caddy.CONFIG_PATH, text.encode()),))
        engine.run(spec)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:  # until Caddy answers at all (401 without a key)
                with contextlib.suppress(httpx.HTTPError):
                    if ask(url).status_code == 401:
                        break
                assert time.monotonic() < deadline, "the proxy never answered"
                time.sleep(0.1)
            assert ask(url, key).status_code == status, env
            for wrong in ("x", "short", "k" * 39, "k" * 41):
                assert ask(url, wrong).status_code == 401, (env, wrong)
        finally:
            engine.remove(spec.name, stop_timeout=1)
