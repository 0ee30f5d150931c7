"""`llmctl expose` without Docker: the Caddyfile, the request checks, the proxy's spec (no
key in labels, hash or any printed form), and the expose/unexpose/down/status decisions on
the in-memory engine (tests/fakes/engine.py).

The proxy container cannot run here, so :class:`ProxyEngine` stands in for what Caddy does
with the config the engine was given: when a proxy "starts", a small HTTP server listens on
its published loopback port and answers as the Caddyfile says (401 with no body unless
``Authorization: Bearer KEY`` with the key read from the file the proxy was given; then the
server's answers). tests/integration/test_expose_engine.py runs the real Caddy."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmctl import lifecycle
from llmctl.endpoint import Endpoint, configured_for, load_endpoint, read_config, save_endpoint
from llmctl.engine.model import ContainerInfo, PublishedPort
from llmctl.errors import ConflictError, NotFoundError, NotReadyError, UsageError
from llmctl.expose import caddy, proxy
from llmctl.expose import status as exposure
from llmctl.expose.plan import (
    DEFAULT_IMAGE,
    Checked,
    ExposeRequest,
    Upstream,
    check,
    parse_listen,
    plan_proxy,
)
from llmctl.managed import list_servers
from llmctl.plan import ContainerSpec
from llmctl.targets.base import Events
from tests.fakes.engine import FakeEngine

KEY = "k" * 43


def server(name: str, port: int, *, host_ip: str = "127.0.0.1", state: str = "running",
           profile: str = "ollama", api: str = "ollama", cport: int = 11434) -> ContainerInfo:
    """A container as `llmctl up PROFILE --name NAME --port PORT` leaves it."""
    return ContainerInfo(
        id=name, name=f"llmctl-{name}", state=state, image="ollama/ollama:0.17.1",
        labels={"io.llmctl.managed": "true", "io.llmctl.instance": name,
                "io.llmctl.profile": profile, "io.llmctl.api": api,
                "io.llmctl.container-port": str(cport)},
        ports=(PublishedPort(host_ip, port, cport),), volumes=(f"{name}-ollama-data",))


# --- the Caddyfile ---------------------------------------------------------------------------


def test_caddyfile_lets_the_key_through_and_401s_the_rest() -> None:
    text = caddy.render(upstream="llmctl-ollama:11434", key=KEY, port=8080)
    assert f'@key header Authorization "Bearer {KEY}"' in text
    assert "\treverse_proxy llmctl-ollama:11434 {" in text
    assert "header_up -Authorization" in text  # the server never sees the key
    assert "flush_interval -1" in text  # NDJSON and SSE stream as they come
    assert "respond 401" in text and "\n:8080 {" in text and "auto_https off" in text
    assert "admin off" in text and "tls internal" not in text
    assert caddy.key_of(text) == KEY and caddy.key_of(text.encode()) == KEY
    assert caddy.key_of("respond 401") is None and caddy.key_of(None) is None


def test_caddyfile_with_tls_internal_names_every_address_and_the_default() -> None:
    text = caddy.render(upstream="llmctl-x:8080", key=KEY, port=8443, tls="internal",
                        names=["::1", "localhost", "llmctl-proxy-x"], default_name="::1")
    assert ("https://[::1]:8443, https://localhost:8443, https://llmctl-proxy-x:8443 {"
            in text)
    assert "\ttls internal" in text and "default_sni ::1" in text
    assert "skip_install_trust" in text and "auto_https disable_redirects" in text


@pytest.mark.parametrize("bad", [
    dict(key='x" } respond 200 { "' + "a" * 40),  # no way to inject Caddyfile text
    dict(key="short"),
    dict(upstream="llmctl-x:1 { respond 200 }"),
    dict(tls="acme"),
    dict(tls="internal", names=["ok", "bad name"], default_name="ok"),
    dict(tls="internal", names=["a"], default_name="b"),
])
def test_caddyfile_refuses_what_it_cannot_write_safely(bad: dict[str, Any]) -> None:
    args: dict[str, Any] = {"upstream": "llmctl-x:8080", "key": KEY, "port": 8080, **bad}
    with pytest.raises(ValueError):
        caddy.render(**args)


# --- the request -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    (None, ("127.0.0.1", None)),
    ("127.0.0.1:8443", ("127.0.0.1", 8443)),
    ("9000", ("127.0.0.1", 9000)),
    ("0.0.0.0", ("0.0.0.0", None)),
    ("192.168.1.10:11443", ("192.168.1.10", 11443)),
    ("[::1]:9000", ("::1", 9000)),
    ("::", ("::", None)),
])
def test_listen_addresses(text: str | None, want: tuple[str, int | None]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text, says", [
    ("localhost:8080", "'localhost' is not an IP address"),
    ("0.0.0.0:0", "'0' is not a TCP port"),
    ("0.0.0.0:70000", "'70000' is not a TCP port"),
    ("1.2.3.4:", "has no port after ':'"),
    ("[::1", "is not IP:PORT"),
    ("1.2.3.4:x", "'x' is not a TCP port"),
])
def test_bad_listen_addresses_are_usage_errors(text: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_listen(text)
    assert says in err.value.message and "--listen 0.0.0.0:8443" in (err.value.hint or "")


def test_request_checks() -> None:
    assert check(ExposeRequest("ollama")).image == DEFAULT_IMAGE
    for request, says in [
        (ExposeRequest("ollama", tls="acme"), "--tls 'acme' is not one of off, internal"),
        (ExposeRequest("ollama", image="caddy"),
         "--proxy-image: 'caddy' has no tag: name a released tag explicitly (never a silent "
         "latest)"),
        (ExposeRequest("a/b"), "NAME 'a/b' is not a valid name"),
        (ExposeRequest("ollama", timeout=0), "--timeout 0 must be more than 0 seconds"),
    ]:
        with pytest.raises(UsageError) as err:
            check(request)
        assert err.value.message == says


def test_beyond_loopback_warns_and_asks() -> None:
    said: list[str] = []
    asked: list[tuple[str, str]] = []
    events = Events(warn=said.append, confirm=lambda q, w: asked.append((q, w)))
    checked = proxy.check_request(ExposeRequest("gpu", listen="0.0.0.0:11443"), events)
    assert checked.exposed
    assert asked == [("Expose gpu on 0.0.0.0:11443?", "--listen 0.0.0.0:11443")]
    assert "firewalls" in said[0]
    assert said[1].startswith("--tls off: the key, every prompt and every answer travel in "
                              "clear text on the network")
    said.clear()
    proxy.check_request(ExposeRequest("gpu", listen="0.0.0.0", tls="internal"), events)
    assert len(said) == 1 and "clear text" not in said[0]
    # A library caller who did not opt in is refused (the default Events refuse).
    with pytest.raises(UsageError, match="confirmation needed"):
        proxy.check_request(ExposeRequest("gpu", listen="0.0.0.0"), Events())
    # Loopback: nothing to say, nothing to ask.
    proxy.check_request(ExposeRequest("gpu"), Events(warn=said.append))
    assert len(said) == 1


# --- the spec --------------------------------------------------------------------------------


UPSTREAM = Upstream(instance="gpu", profile="ollama", api="ollama", api_path="",
                    container="llmctl-gpu", address="llmctl-gpu:11434", state="running",
                    host_ip="127.0.0.1", host_port=11434)


def spec_with(key: str, tls: str = "off") -> ContainerSpec:
    checked = Checked("gpu", "127.0.0.1", None, tls, DEFAULT_IMAGE, False, 60.0)
    return plan_proxy(UPSTREAM, checked, host_port=11480, key=key, key_created="2026-01-01",
                      url_host="127.0.0.1", names=["127.0.0.1", "localhost", "llmctl-proxy-gpu"])


def test_the_key_is_in_the_config_file_only() -> None:
    spec = spec_with(KEY)
    (config,) = spec.files
    assert config.path == "/etc/caddy/Caddyfile" and config.mode == 0o600
    assert caddy.key_of(config.content) == KEY
    assert spec.env == {} and spec.command == () and spec.secrets == {}
    assert KEY not in json.dumps(spec.labels) and KEY not in repr(spec)
    printed = json.dumps(spec.to_dict(), default=str)
    assert KEY not in printed and '"content": "***"' in printed
    assert spec.labels["io.llmctl.role"] == "proxy" and "io.llmctl.instance" not in spec.labels
    # The spec hash does not depend on the key: a rotation is told by the key's date.
    other = spec_with("o" * 43)
    assert other.labels["io.llmctl.spec-hash"] == spec.labels["io.llmctl.spec-hash"]
    assert spec.ports[0].host_ip == "127.0.0.1" and spec.volumes == ()
    tls = spec_with(KEY, "internal")
    assert [(v.name, v.target) for v in tls.volumes] == [("llmctl-proxy-gpu-data", "/data")]
    assert tls.ports[0].container_port == 8443
    assert tls.labels["io.llmctl.spec-hash"] != spec.labels["io.llmctl.spec-hash"]


# --- expose on the in-memory engine ----------------------------------------------------------


class ProxyEngine(FakeEngine):
    """The in-memory engine, where a proxy that runs answers on its published loopback port
    as its Caddyfile says (see the module docstring); the server behind it serves
    ``models``."""

    def __init__(self, *args: Any, models: tuple[str, ...] = ("tinyllama:latest",),
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.models = list(models)
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.seen: list[tuple[str, str | None]] = []  # what the server behind got

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        made = super().run(spec)
        if spec.labels.get("io.llmctl.role") == "proxy":
            self._listen(spec.name, spec.ports[0].host_port)
        return made

    def remove(self, name: str, *, stop_timeout: int = 10) -> bool:
        srv = self.servers.pop(name, None)
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        return super().remove(name, stop_timeout=stop_timeout)

    def close(self) -> None:
        for name in list(self.servers):
            self.remove(name)

    def _listen(self, name: str, port: int) -> None:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                key = caddy.key_of(engine.files.get((name, caddy.CONFIG_PATH)))
                if self.headers.get("Authorization") != f"Bearer {key}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                engine.seen.append((self.path, self.headers.get("Authorization")))
                if self.path == "/api/tags":
                    doc: Any = {"models": [{"name": m, "model": m} for m in engine.models]}
                elif self.path.endswith("/models"):  # OpenAI: /v1/models, /engines/v1/models
                    doc = {"object": "list", "data": [{"id": m} for m in engine.models]}
                else:
                    doc = None
                body = (json.dumps(doc) if doc is not None else "Ollama is running").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
        self.servers[name] = srv


@pytest.fixture
def engine():  # type: ignore[no-untyped-def]
    from tests.support import publish_port

    eng = ProxyEngine(containers=[server("gpu", publish_port())], images={DEFAULT_IMAGE})
    yield eng
    eng.close()


def expose(engine: FakeEngine, **kw: Any) -> proxy.ExposeResult:
    from tests.support import publish_port

    kw.setdefault("listen", f"127.0.0.1:{publish_port(30000)}")
    return proxy.expose(engine, check(ExposeRequest("gpu", timeout=5, **kw)))


def config_key(engine: FakeEngine) -> str | None:
    return caddy.key_of(engine.files[("llmctl-proxy-gpu", caddy.CONFIG_PATH)])


def test_expose_writes_the_key_to_the_proxy_and_the_endpoint_only(engine: ProxyEngine) -> None:
    res = expose(engine)
    assert res.action == "created" and res.ready is True and res.model == "tinyllama:latest"
    key = config_key(engine)
    assert key is not None and len(key) == 43  # secrets.token_urlsafe(32)
    ep = load_endpoint()  # the default now
    assert ep.name == "gpu-exposed" and ep.bearer_token == key and ep.endpoint == res.url
    assert ep.endpoint_container == "http://llmctl-proxy-gpu:8080" and ep.ca_file is None
    assert key not in json.dumps(vars(res), default=str)
    assert key not in json.dumps(engine.containers["llmctl-proxy-gpu"].labels)
    # The server behind got requests with the key, never one without it.
    assert ("/api/tags", f"Bearer {key}") in engine.seen
    assert engine.created == ["llmctl-proxy-gpu"] and "llmctl-gpu" not in engine.removed


def test_the_proxy_image_is_pulled_when_missing(engine: ProxyEngine) -> None:
    engine.images.discard(DEFAULT_IMAGE)
    res = expose(engine)
    assert engine.pulled == [DEFAULT_IMAGE] and res.image == DEFAULT_IMAGE == "caddy:2.11.7"


def test_expose_again_reuses_the_proxy_and_its_key(engine: ProxyEngine) -> None:
    first = expose(engine)
    key = config_key(engine)
    again = expose(engine, listen=first.listen)
    assert again.action == "reused" and config_key(engine) == key
    assert again.key_created == first.key_created and engine.created == ["llmctl-proxy-gpu"]
    assert load_endpoint("gpu-exposed").bearer_token == key


def test_a_new_listen_address_keeps_the_key_and_rotate_makes_a_new_one(
        engine: ProxyEngine) -> None:
    expose(engine)
    key = config_key(engine)
    moved = expose(engine)  # another free port
    assert moved.action == "recreated" and config_key(engine) == key
    rotated = expose(engine, listen=moved.listen, rotate_key=True)
    assert rotated.action == "rotated" and rotated.key_rotated
    new = config_key(engine)
    assert new not in (None, key) and load_endpoint("gpu-exposed").bearer_token == new
    # The LLM server was never touched: only the proxy was replaced.
    assert "llmctl-gpu" not in engine.removed + engine.started + engine.created
    assert engine.containers["llmctl-gpu"].state == "running"


def test_expose_refuses_what_it_cannot_protect(engine: ProxyEngine) -> None:
    engine.add(server("open", 21999, host_ip="0.0.0.0"), server("off", 21998, state="exited"))
    with pytest.raises(ConflictError) as err:
        proxy.expose(engine, check(ExposeRequest("open")))
    assert "open itself is published on 0.0.0.0:21999, beyond loopback" in err.value.message
    assert err.value.hint == ("Publish it on loopback first: `llmctl up ollama --name open "
                              "--port 21999 --recreate` (binds 127.0.0.1), then expose it.")
    with pytest.raises(NotReadyError, match="off is exited"):
        proxy.expose(engine, check(ExposeRequest("off")))
    with pytest.raises(NotFoundError, match="no server llmctl runs is named 'nope'"):
        proxy.expose(engine, check(ExposeRequest("nope")))
    engine.add(ContainerInfo("y", "llmctl-proxy-gpu", "running", "nginx:1"))
    with pytest.raises(ConflictError, match="not made by `llmctl expose`"):
        expose(engine)
    assert engine.created == []


def test_no_model_no_entry(engine: ProxyEngine) -> None:
    engine.models = []
    res = expose(engine)
    assert res.endpoint is None and read_config() == (None, [])
    assert any(n.startswith("no endpoint entry written: gpu has no model yet") for n in res.notes)


def test_the_model_already_named_for_the_server_is_kept(engine: ProxyEngine) -> None:
    save_endpoint(Endpoint(name="gpu", api_type="ollama", model="qwen3:0.6b",
                           endpoint="http://127.0.0.1:1", llm_type="docker-container",
                           endpoint_container="http://llmctl-gpu:11434"))
    res = expose(engine)
    assert res.model == "qwen3:0.6b" and read_config()[0] == "gpu-exposed"
    out = proxy.unexpose(engine, "gpu")
    assert out.removed == ["llmctl-proxy-gpu"] and out.endpoint_removed == "gpu-exposed"
    assert out.default == "gpu" and read_config()[0] == "gpu"  # the server's entry again
    with pytest.raises(NotFoundError, match="gpu is not exposed"):
        proxy.unexpose(engine, "gpu")


def test_tls_internal_fetches_the_ca(engine: ProxyEngine, tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    engine.written = {caddy.CA_PATH: pem}  # what Caddy makes when it starts
    engine.run(replace(spec_with(KEY, "internal"), name="llmctl-proxy-x"))
    path = proxy._fetch_ca(engine, "llmctl-proxy-x", "x", 2.0)
    assert path == proxy.ca_path("x") and path.read_bytes() == pem
    engine.written = {}
    engine.run(replace(spec_with(KEY, "internal"), name="llmctl-proxy-y",
                       ports=(replace(spec_with(KEY).ports[0], host_port=1),)))
    engine.containers["llmctl-proxy-y"] = replace(engine.containers["llmctl-proxy-y"],
                                                  state="exited")
    with pytest.raises(NotReadyError, match="the proxy llmctl-proxy-y stopped while starting"):
        proxy._fetch_ca(engine, "llmctl-proxy-y", "y", 2.0)


def test_down_removes_the_proxy_and_servers_never_list_it(engine: ProxyEngine) -> None:
    res = expose(engine)
    assert [s.instance for s in list_servers(engine)] == ["gpu"]
    (st,) = exposure.status(engine).proxies
    assert (st.instance, st.proxy, st.health, st.listen, st.tls) == (
        "gpu", "llmctl-proxy-gpu", "ok", res.listen, "off")
    assert st.upstream_state == "running" and st.key_age_s is not None and st.key_age_s < 60
    out = lifecycle.down(engine, "ollama", name="gpu")
    assert out.removed == ["llmctl-proxy-gpu", "llmctl-gpu"]
    assert exposure.status(engine).proxies == []


def test_model_runner_on_engine_is_exposed_at_its_api_path(engine: ProxyEngine) -> None:
    """llmctl's runner container on Docker Engine is a server like the others; its OpenAI
    API is under /engines/v1."""
    engine.add(server("model-runner", 12434, profile="model-runner", api="openai",
                      cport=12434))
    engine.models = ["ai/smollm2:latest"]
    res = proxy.expose(engine, check(ExposeRequest("model-runner", timeout=5)))
    assert res.url.endswith("/engines/v1") and res.model == "ai/smollm2:latest"
    ep = load_endpoint("model-runner-exposed")
    assert ep.llm_type == "docker-model-runner" and ep.api_type == "openai"
    assert ep.endpoint_container == "http://llmctl-proxy-model-runner:8080/engines/v1"
    assert any(path == "/engines/v1/models" for path, _ in engine.seen)


def test_lock_and_export_see_servers_not_proxies(engine: ProxyEngine) -> None:
    """`llmctl lock` locks servers: a proxy is not one (export takes it along itself:
    tests/unit/test_export_proxy.py)."""
    from llmctl.lock.capture import select

    expose(engine)
    assert [i.name for i in select(engine)] == ["llmctl-gpu"]


def test_key_age_text() -> None:
    assert [exposure.key_age_text(s) for s in (None, 5, 120, 7200, 3 * 86400)] == [
        "-", "5 s", "2 min", "2 h", "3 d"]


# --- the endpoint file: a key and a CA for their own server only -----------------------------


def test_configured_for_matches_the_origin_only(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    save_endpoint(Endpoint(name="gpu-exposed", api_type="openai", model="m",
                           endpoint="https://localhost:11443/v1", bearer_token=KEY,
                           ca_file=str(ca)))
    save_endpoint(Endpoint(name="plain", api_type="ollama", model="m",
                           endpoint="http://127.0.0.1:11434"))
    assert configured_for("https://127.0.0.1:11443").name == "gpu-exposed"  # type: ignore[union-attr]
    assert configured_for("https://127.0.0.1:11443/api/tags") is not None
    for other in ("http://127.0.0.1:11443", "https://127.0.0.1:11444", "https://10.0.0.1:11443",
                  "http://127.0.0.1:11434", "not a url"):
        assert configured_for(other) is None, other
    assert load_endpoint("gpu-exposed").ca_file == str(ca)
    # Rewriting the same server without a CA keeps it (as the token is kept).
    save_endpoint(Endpoint(name="gpu-exposed", api_type="openai", model="m2",
                           endpoint="https://localhost:11443/v1"))
    again = load_endpoint("gpu-exposed")
    assert (again.model, again.bearer_token, again.ca_file) == ("m2", KEY, str(ca))


def test_the_client_factory_trusts_a_ca_for_its_own_origin_only(tmp_path: Path) -> None:
    """The CA of an entry is loaded for that entry's origin and no other (shown here with a
    CA file that is gone: only a client for that origin trips on it). The real handshake,
    with Caddy's CA, is in tests/integration/test_expose_engine.py."""
    from llmctl.backends.http import make_async_client, make_client
    from llmctl.errors import ConfigError

    gone = tmp_path / "gone.crt"
    save_endpoint(Endpoint(name="gpu-exposed", api_type="ollama", model="m",
                           endpoint="https://127.0.0.1:11443", ca_file=str(gone)))
    for url in ("https://127.0.0.1:11444", "https://10.0.0.1:11443", "http://127.0.0.1:11443"):
        make_client(url).close()
    for factory in (make_client, make_async_client):
        with pytest.raises(ConfigError) as err:
            factory("https://127.0.0.1:11443/api")
        assert err.value.message.startswith(f"the CA certificate for https://127.0.0.1:11443/api,"
                                            f" {gone}, cannot be used")
        assert "llmctl expose NAME --tls internal" in (err.value.hint or "")
    with pytest.raises(ConfigError):
        make_client("https://10.0.0.1:1", ca_file=str(gone))  # given: used, whatever the URL
