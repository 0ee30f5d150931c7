"""The one way llmctl runs the docker CLI (``docker model …``, ``docker desktop …``, …).

Argument lists only (never a shell), a timeout on every call, and for every `docker model`
call ``MODEL_RUNNER_NO_AUTO_INSTALL=1`` so that the plugin never pulls and starts a runner
behind the user's back (reference/server-apis.md §2.5). The daemon llmctl was pointed at
(``--context``/``--host``) is handed to the CLI through DOCKER_CONTEXT/DOCKER_HOST.

A missing CLI plugin is recognised from the docker CLI's own answer, exit 1 with
``docker: 'model' is not a docker command`` (older CLIs) or
``docker: unknown command: docker model`` (newer), and explained with an install hint for
the platform.

It lives beside the Docker SDK layer because it talks to the same daemon (a
:class:`~llmctl.engine.model.DaemonTarget`); it never imports ``docker`` itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmctl.errors import (  # re-exported: callers catch them from here
    CliCommandFailed,
    DockerCliMissing,
    ExitCode,
    PluginMissing,
    ServerError,
)

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget

DEFAULT_TIMEOUT = 30.0
INSTALL_TIMEOUT = 900.0  # install-runner pulls an image of a few GB
NO_AUTO_INSTALL = {"MODEL_RUNNER_NO_AUTO_INSTALL": "1"}


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        """The command as a user would type it (for messages)."""
        return " ".join(["docker", *self.argv[1:]])

    @property
    def output(self) -> str:
        return (self.stderr.strip() or self.stdout.strip())


@dataclass(frozen=True)
class CliStatus:
    """`docker model status --json` (commands/status.go ``jsonStatus``)."""

    running: bool
    backends: dict[str, str] = field(default_factory=dict)
    kind: str | None = None  # "Docker Desktop" | "Docker Engine" | ... (absent in old CLIs)
    endpoint: str | None = None  # for containers
    endpoint_host: str | None = None  # for host processes (absent on Desktop / old CLIs)


def plugin_missing_re(plugin: str) -> re.Pattern[str]:
    p = re.escape(plugin)
    return re.compile(
        rf"'{p}' is not a docker command|unknown command:?\s+\"?docker {p}\b", re.IGNORECASE
    )


def is_plugin_missing(result: CliResult, plugin: str) -> bool:
    return result.returncode == 1 and bool(
        plugin_missing_re(plugin).search(result.stderr + "\n" + result.stdout)
    )


def install_hint(plugin: str, *, desktop: bool, host_os: str | None = None) -> str:
    """How to get the plugin, for the platform llmctl runs on and the engine kind."""
    host_os = host_os or sys.platform
    if plugin == "desktop":
        return (
            "`docker desktop` ships with Docker Desktop 4.37 and later: update Docker Desktop "
            "(or turn Model Runner on in Settings > AI > Enable Docker Model Runner, with "
            "'Enable host-side TCP support')."
        )
    if desktop:
        return (
            "`docker model` ships with Docker Desktop 4.40 and later: update Docker Desktop, "
            "then turn it on in Settings > AI > Enable Docker Model Runner."
        )
    if host_os.startswith("linux"):
        return (
            "Install Docker's `docker-model-plugin` package (`sudo apt-get install "
            "docker-model-plugin` or `sudo dnf install docker-model-plugin`, from Docker's "
            "repository), or run without it: llmctl then starts the runner container itself."
        )
    return (
        "Install Docker Desktop 4.40 or later (it includes `docker model`), or install the "
        "docker-model-plugin on a Linux Docker Engine."
    )


def daemon_env(target: DaemonTarget | None) -> dict[str, str]:
    """The environment that points a docker CLI child at the daemon llmctl resolved.

    Always explicit, so a child never picks another daemon than llmctl's own connection
    (``--context``/``--host`` given to llmctl, or the environment and config it read): a
    context by name (``DOCKER_HOST`` unset for the child), or a host address (``DOCKER_CONTEXT``
    unset). ``""`` means: remove the variable from the child's environment.
    """
    if target is None:
        return {}
    if target.source in ("--host", "DOCKER_HOST") or target.context == "default":
        return {"DOCKER_HOST": target.host, "DOCKER_CONTEXT": ""}
    return {"DOCKER_CONTEXT": target.context, "DOCKER_HOST": ""}


Runner = Callable[[Sequence[str], dict[str, str], float], CliResult]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """``os.environ`` with ``env`` applied (a value of ``""`` removes the variable)."""
    full_env = {**os.environ, **env}
    for key, value in env.items():
        if value == "":
            full_env.pop(key, None)  # "" means: unset it for the child
    return full_env


def run_process(argv: Sequence[str], env: dict[str, str], timeout: float) -> CliResult:
    """Run ``argv`` (an argument list, never a shell) with ``env`` applied, capture its
    output, kill it after ``timeout`` seconds (``subprocess.TimeoutExpired``)."""
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, env=child_env(env),
        stdin=subprocess.DEVNULL, check=False,
    )
    return CliResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)



class DockerCli:
    """The one way llmctl runs the docker CLI: an argument list (never a shell), a timeout,
    and always the daemon llmctl resolved (:func:`daemon_env`), for ``docker desktop``,
    ``docker model`` (with ``MODEL_RUNNER_NO_AUTO_INSTALL=1``) and anything else."""

    def __init__(
        self,
        target: DaemonTarget | None = None,
        *,
        docker: str | None = None,
        desktop: bool = False,
        runner: Runner | None = None,
    ) -> None:
        self.target = target
        self.docker = docker or os.environ.get("LLMCTL_DOCKER_CLI") or "docker"
        self.desktop = desktop  # for the install hint when a plugin is missing
        self._runner = runner or run_process

    # --- plumbing ------------------------------------------------------------------------
    def available(self) -> bool:
        """True when the docker executable is on PATH."""
        return shutil.which(self.docker) is not None

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What a child gets on top of ``os.environ``: the daemon, then ``extra``."""
        return {**daemon_env(self.target), **(extra or {})}

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `docker ARGS` with stdout and stderr on one pipe (bytes), for callers that
        read its output as it comes and watch it themselves (a pull's stall watchdog)."""
        argv = [self._binary(), *args]
        try:
            return subprocess.Popen(  # an argument list, never a shell
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=child_env(self.env(env)),
            )
        except OSError as exc:
            raise DockerCliMissing(f"cannot run the docker CLI ({argv[0]}): {exc}") from exc

    def _binary(self) -> str:
        found = shutil.which(self.docker)
        if not found:
            raise DockerCliMissing(
                f"the docker CLI ({self.docker}) is not on PATH",
                "Install the docker CLI (Docker Desktop, or the docker-ce-cli / docker.io "
                "package); llmctl runs `docker model` and `docker desktop` through it.",
            )
        return found

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT,
            env: dict[str, str] | None = None,
            on_line: Callable[[str], None] | None = None) -> CliResult:
        """Run `docker ARGS`. With ``on_line``, output lines are handed over as they come."""
        argv = (self._binary(), *args)
        full_env = self.env(env)
        runner = self._runner
        if on_line is not None and runner is run_process:
            runner = streaming_runner(on_line)
        try:
            return runner(argv, full_env, timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"`docker {' '.join(args)}` did not finish within {timeout:g} s",
                "Check that Docker is responsive (`docker info`), then try again.",
                exit_code=ExitCode.NOT_READY,
            ) from None
        except OSError as exc:
            raise DockerCliMissing(f"cannot run the docker CLI ({argv[0]}): {exc}") from exc

    def model(self, *args: str, timeout: float = DEFAULT_TIMEOUT,
              on_line: Callable[[str], None] | None = None) -> CliResult:
        """`docker model ARGS`; raises PluginMissing when the plugin is not there."""
        result = self.run("model", *args, timeout=timeout, env=NO_AUTO_INSTALL,
                          on_line=on_line)
        self._check_plugin(result, "model")
        return result

    def desktop_cmd(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> CliResult:
        """`docker desktop ARGS`; raises PluginMissing when the plugin is not there."""
        result = self.run("desktop", *args, timeout=timeout)
        self._check_plugin(result, "desktop")
        return result

    def _check_plugin(self, result: CliResult, plugin: str) -> None:
        """Raise PluginMissing when ``result`` is the docker CLI's answer for a missing
        plugin. Without the plugin, the CLI parses the plugin's flags as its own, so
        `docker model status --json` fails with `unknown flag: --json` (exit 125) before
        it ever says "unknown command": that case is confirmed with a flagless call."""
        missing = is_plugin_missing(result, plugin)
        if not missing and result.returncode == 125 and "unknown flag" in result.output:
            env = NO_AUTO_INSTALL if plugin == "model" else None
            missing = is_plugin_missing(self.run(plugin, "version", env=env), plugin)
        if missing:
            raise PluginMissing(plugin, install_hint(plugin, desktop=self.desktop or
                                                     plugin == "desktop"))

    # --- docker model ----------------------------------------------------------------------
    def model_status(self, timeout: float = DEFAULT_TIMEOUT) -> CliStatus:
        """`docker model status --json`. It exits 0 with ``"running": false`` when the runner
        is down; anything else non-zero is a failure of the command itself."""
        result = self.model("status", "--json", timeout=timeout)
        if not result.ok:
            raise CliCommandFailed(
                f"`{result.command}` failed (exit {result.returncode}): "
                f"{_first_line(result.output)}",
                "Run it yourself to see the whole message.",
            )
        return parse_status_json(result.stdout, result.command)

    def model_version(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
        """`docker model version` (text only): {"client": …, "server": …, "engine": …}."""
        result = self.model("version", timeout=timeout)
        if not result.ok:
            raise CliCommandFailed(
                f"`{result.command}` failed (exit {result.returncode}): "
                f"{_first_line(result.output)}"
            )
        return parse_version_text(result.stdout)

    def install_runner(
        self, *, port: int, gpu: str, timeout: float = INSTALL_TIMEOUT,
        on_line: Callable[[str], None] | None = None,
    ) -> CliResult:
        """`docker model install-runner --port PORT --gpu GPU` (it pulls the image)."""
        args = ["install-runner", "--port", str(port), "--gpu", gpu]
        result = self.model(*args, timeout=timeout, on_line=on_line)
        if not result.ok:
            raise CliCommandFailed(
                f"`{result.command}` failed (exit {result.returncode}): "
                f"{_first_line(result.output)}",
                "Run it yourself for the whole output; `docker model uninstall-runner` "
                "removes a half-installed runner.",
                details={"output": result.output[-2000:]},
            )
        return result

    # --- docker desktop ---------------------------------------------------------------------
    def enable_model_runner(self, *, tcp_port: int | None) -> CliResult:
        args = ["enable", "model-runner"]
        args += ["--tcp", str(tcp_port)] if tcp_port is not None else ["--no-tcp"]
        return self.desktop_cmd(*args, timeout=120.0)

    def disable_model_runner(self) -> CliResult:
        return self.desktop_cmd("disable", "model-runner", timeout=120.0)

    def desktop_version(self) -> dict[str, Any]:
        """`docker desktop version -f json`: the Desktop CLI plugin's version document."""
        result = self.desktop_cmd("version", "-f", "json")
        if not result.ok:
            raise CliCommandFailed(
                f"`{result.command}` failed (exit {result.returncode}): "
                f"{_first_line(result.output)}"
            )
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            raise CliCommandFailed(
                f"`{result.command}` did not print JSON: {_first_line(result.stdout)!r}"
            ) from None
        if not isinstance(doc, dict):
            raise CliCommandFailed(f"`{result.command}` printed {type(doc).__name__}, "
                                   "not an object")
        return doc


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return "(no output)"


def parse_status_json(text: str, command: str = "docker model status --json") -> CliStatus:
    """Validate and reduce the `status --json` document (newer and archived CLI forms)."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise CliCommandFailed(
            f"`{command}` did not print JSON: {_first_line(text)!r}",
            "Update the docker model plugin (`docker model version`).",
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("running"), bool):
        raise CliCommandFailed(f"`{command}`: expected an object with a boolean 'running', "
                               f"got {_first_line(text)!r}")
    backends = doc.get("backends") or {}
    if not isinstance(backends, dict):
        raise CliCommandFailed(f"`{command}`: 'backends' is not an object")

    def text_or_none(key: str) -> str | None:
        value = doc.get(key)
        return str(value) if isinstance(value, str) and value else None

    return CliStatus(
        running=doc["running"],
        backends={str(k): str(v) for k, v in backends.items()},
        kind=text_or_none("kind"),
        endpoint=text_or_none("endpoint"),
        endpoint_host=text_or_none("endpointHost"),
    )


def parse_version_text(text: str) -> dict[str, str]:
    """`Client:\\n Version: …\\n OS/Arch: …\\n\\nServer:\\n Version: …\\n Engine: <kind>`."""
    section = ""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith(":") and not raw.startswith((" ", "\t")):
            section = line[:-1].lower()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if section == "client" and key == "version":
            found["client"] = value
        elif section == "server" and key == "version":
            found["server"] = value
        elif section == "server" and key == "engine":
            found["engine"] = value
    return found


def stream_lines(
    argv: Sequence[str], env: dict[str, str], timeout: float,
    on_line: Callable[[str], None],
) -> CliResult:
    """Run ``argv`` and hand each output line to ``on_line`` as it comes (for long commands
    such as install-runner); kill it after ``timeout`` seconds."""
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(env), stdin=subprocess.DEVNULL,
    )
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    err_lines: list[str] = []

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            on_line(line.rstrip("\n"))

    reader = threading.Thread(target=pump_err, daemon=True)
    reader.start()
    out_lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out_lines.append(line)
            on_line(line.rstrip("\n"))
        proc.wait()
        reader.join(timeout=5)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if expired.is_set():
        raise subprocess.TimeoutExpired(list(argv), timeout)
    return CliResult(tuple(argv), proc.returncode, "".join(out_lines), "".join(err_lines))


def streaming_runner(on_line: Callable[[str], None]) -> Runner:
    def run(argv: Sequence[str], env: dict[str, str], timeout: float) -> CliResult:
        return stream_lines(argv, env, timeout, on_line)

    return run
