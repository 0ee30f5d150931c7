"""What Docker Model Runner's status is, on Docker Desktop and on Docker Engine: read from
the engine, `docker model status` and the runner's HTTP answer. Never raises for a runner
that is down or absent: that is what it reports."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from llmctl.backends.runner_status import OPENAI_PATH, RunnerProbe, probe
from llmctl.errors import PluginMissing
from llmctl.plan import LABEL_MANAGED
from llmctl.targets.model_runner.container import (
    DEFAULT_PORT,
    container_endpoint,
    find_runners,
    host_port_of,
    local_url,
)
from llmctl.targets.model_runner.place import DESKTOP_CONTAINER_URL, DESKTOP_MIN, parse_version
from llmctl.targets.model_runner.results import RunnerStatus

if TYPE_CHECKING:
    from llmctl.engine.docker_cli import DockerCli
    from llmctl.engine.model import Engine
    from llmctl.targets.model_runner.place import Place


def engine_status(engine: Engine, timeout: float, transport: Any = None) -> RunnerStatus:
    """Docker Engine: the runner container (llmctl's or the plugin's) and its answer."""
    runners = find_runners(engine)
    if not runners:
        st = RunnerStatus(kind="Docker Engine", running=False, installed=False,
                          problem="no Model Runner container on this engine",
                          fix="llmctl up model-runner --tcp 12434")
        if engine.target.is_local:
            answer = probe(local_url(DEFAULT_PORT), timeout=timeout,
                           transport=transport)
            if answer.running:
                st.running = True
                st.endpoint = answer.url
                st.base_url = answer.url + OPENAI_PATH
                st.backends, st.version = answer.backends, answer.version
                st.models = None if answer.models is None else len(answer.models)
                st.problem = None
                st.fix = None
                st.notes.append(f"a Model Runner answers at {answer.url} but is not a "
                                "container of this engine (Docker Desktop or a manual "
                                "install)")
        return st
    info = runners[0]
    port = host_port_of(info)
    st = RunnerStatus(
        kind="Docker Engine", running=info.running, installed=True, container=info.name,
        managed=info.labels.get(LABEL_MANAGED) == "true",
        endpoint=local_url(port) if port else None,
        endpoint_container=container_endpoint(info) + OPENAI_PATH,
    )
    st.base_url = st.endpoint + OPENAI_PATH if st.endpoint else None
    if not info.running:
        st.problem = f"the runner container is {info.state}"
        st.fix = "llmctl up model-runner" + (f" --tcp {port}" if port else "")
        return st
    if not port:
        st.running = False
        st.problem = "the runner container publishes no port"
        st.fix = "llmctl down model-runner && llmctl up model-runner --tcp 12434"
        return st
    if not engine.target.is_local:
        st.notes.append("the daemon is remote: its 127.0.0.1 is not this machine's")
        return st
    _apply_probe(st, probe(local_url(port), timeout=timeout,
                                transport=transport))
    if st.problem:
        st.fix = f"See `docker logs {info.name}`."
    return st

def _apply_probe(st: RunnerStatus, answer: RunnerProbe) -> None:
    st.running = answer.running
    if answer.backends:
        st.backends = answer.backends
    st.version = answer.version or st.version
    st.models = None if answer.models is None else len(answer.models)
    if answer.reason != "ok":
        st.problem = answer.detail

def desktop_status(place: Place, cli: DockerCli, timeout: float,
               transport: Any = None) -> RunnerStatus:
    """Docker Desktop: what `docker model status` says, and whether the host port answers."""
    st = RunnerStatus(kind="Docker Desktop", running=False, installed=True,
                      endpoint_container=DESKTOP_CONTAINER_URL + OPENAI_PATH)
    version = parse_version(place.desktop_version)
    if version is not None and version[:2] < DESKTOP_MIN:
        st.installed = False
        st.problem = (f"Docker Desktop {place.desktop_version} is too old for "
                      "Model Runner (4.40 or later)")
        st.fix = "Update Docker Desktop."
        return st
    try:
        cli_status = cli.model_status(timeout=10)
    except PluginMissing as exc:
        st.installed = False
        st.problem, st.fix = exc.message, exc.hint
        return st
    st.running = cli_status.running
    st.backends = cli_status.backends
    if cli_status.endpoint:
        st.endpoint_container = cli_status.endpoint.rstrip("/").removesuffix("/v1") \
            .removesuffix("/engines") + OPENAI_PATH
    if not cli_status.running:
        st.problem = "Model Runner is not running in Docker Desktop (disabled in settings?)"
        st.fix = ("llmctl up model-runner --tcp 12434 (or Settings > AI > Enable Docker "
                  "Model Runner)")
        return st
    host = _base_of(cli_status.endpoint_host) or local_url(DEFAULT_PORT)
    answer = probe(host, timeout=timeout, transport=transport)
    if answer.running:
        st.endpoint, st.base_url = host, host + OPENAI_PATH
        _apply_probe(st, answer)
        st.running = True
    else:
        st.problem = (f"host-side TCP is not enabled (nothing answers as a runner at "
                      f"{host}: {answer.detail})")
        st.fix = "llmctl up model-runner --tcp 12434"
    return st


def _base_of(endpoint: str | None) -> str | None:
    """http://127.0.0.1:12434/engines/v1/ -> http://127.0.0.1:12434."""
    if not endpoint:
        return None
    m = re.match(r"(https?://[^/]+)", endpoint)
    return m.group(1) if m else None
