"""One error hierarchy with stable exit codes.

Every expected failure is an :class:`LlmctlError`: a one-line ``message`` saying what is
wrong, an optional ``hint`` saying how to fix it, and an ``exit_code``. The CLI has a single
exit point (``llmctl.cli.app.main``) that renders these without a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Documented process exit codes (README "Exit codes")."""

    OK = 0
    FAILURE = 1  # the operation ran and failed (server error, pull failed, check failed)
    USAGE = 2  # bad command line: option values, model names, URLs
    CONFIG = 3  # bad profile or config file
    ENGINE_UNAVAILABLE = 4  # Docker daemon not reachable / context missing / permission
    CONFLICT = 5  # port taken, container exists with another spec, name clash
    NOT_READY = 6  # server did not become ready in time, or exited while starting
    NOT_FOUND = 7  # model, container, endpoint or profile that does not exist
    INTERRUPTED = 130  # SIGINT / Ctrl-C
    TERMINATED = 143  # SIGTERM


class LlmctlError(Exception):
    """Base of every error llmctl expects and explains."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        exit_code: ExitCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": type(self).__name__,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }
        if self.hint:
            doc["hint"] = self.hint
        if self.details:
            doc["details"] = self.details
        return doc


class UsageError(LlmctlError):
    exit_code = ExitCode.USAGE


class ConfigError(LlmctlError):
    exit_code = ExitCode.CONFIG


class EngineUnavailable(LlmctlError):
    exit_code = ExitCode.ENGINE_UNAVAILABLE


class ConflictError(LlmctlError):
    exit_code = ExitCode.CONFLICT


class NotReadyError(LlmctlError):
    exit_code = ExitCode.NOT_READY


class NotFoundError(LlmctlError):
    exit_code = ExitCode.NOT_FOUND


class ServerError(LlmctlError):
    """An LLM server answered badly, not at all, or with an error."""

    exit_code = ExitCode.FAILURE


# --- LLM servers and the chat library (public through llmctl.client) ---


class EndpointUnreachable(ServerError):
    """Nothing answered at the endpoint (refused, DNS, TLS, connect timeout)."""


class ModelNotFound(NotFoundError):
    """The server answered but does not have the model."""

    def __init__(self, model: str, server_text: str = "", *, url: str = "") -> None:
        where = f" at {url}" if url else ""
        super().__init__(
            f"model {model!r} not found{where}" + (f" ({server_text})" if server_text else ""),
            f"Pull it first: llmctl pull {model}",
            details={"model": model},
        )
        self.model = model


class ToolsNotSupported(ServerError):
    """The model (or server configuration) cannot do tool calling."""

    def __init__(self, model: str, server_text: str = "") -> None:
        super().__init__(
            f"model {model!r} does not support tools"
            + (f" ({server_text})" if server_text else ""),
            "Pick a model with tool support (for example llama3.2 or qwen2.5), or call "
            "without tools. llama.cpp needs --jinja for tools.",
            details={"model": model},
        )
        self.model = model


class ChatTimeout(ServerError):
    """The answer did not finish within the wall-clock timeout."""


class ServerLoading(NotReadyError):
    """The server is up but still loading the model (HTTP 503)."""


class TimedOut(ServerError):
    """The wall-clock ``--timeout`` ran out before the server finished answering."""


class NotAnAPI(ServerError):
    """Something answered, but not an LLM server's API (a web page, a redirect, ...)."""


class NotOllama(ServerError):
    """Something answered that is not Ollama's API."""


class OllamaUnreachable(ServerError):
    """Nothing answered at the Ollama URL (refused, DNS, connect timeout)."""


class DigestMismatch(ServerError):
    """The server hashed the upload to another digest than the one in the URL."""


class Interrupted(LlmctlError):
    exit_code = ExitCode.INTERRUPTED


# --- Docker, the docker CLI and Docker Model Runner ---------------------------------------
# Raised by llmctl.engine and llmctl.targets; named here so that every error class has one
# home (the JSON envelope's "type" is the class name: the names are part of the output).


class PortTakenOnStart(ConflictError):
    """The daemon refused to publish the port (found out only at start)."""


class PluginMissing(LlmctlError):
    """A docker CLI plugin (`docker model`, `docker desktop`) is not installed."""

    exit_code = ExitCode.FAILURE

    def __init__(self, plugin: str, hint: str) -> None:
        super().__init__(
            f"the `docker {plugin}` command is not available (the docker CLI has no "
            f"'{plugin}' plugin)",
            hint,
            details={"plugin": plugin},
        )
        self.plugin = plugin


class DockerCliMissing(LlmctlError):
    exit_code = ExitCode.ENGINE_UNAVAILABLE


class CliCommandFailed(ServerError):
    """A docker CLI command ran and exited non-zero (not a missing plugin)."""


class RunnerHttpError(ServerError):
    """The Model Runner's HTTP API did not answer as a Model Runner should.

    ``details["reason"]``: refused | timeout | unavailable (503) | http-error |
    not-runner (something else answers) | bad-models (the OpenAI list is malformed).
    """

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", ""))


class RunnerUnreachable(ServerError):
    """Nothing answered at the Model Runner URL (refused, DNS, connect timeout)."""


class DesktopTooOld(LlmctlError):
    exit_code = ExitCode.FAILURE


class RunnerDisabled(LlmctlError):
    """Model Runner is switched off in Docker Desktop (or blocked by its settings)."""

    exit_code = ExitCode.FAILURE


class TcpNotEnabled(LlmctlError):
    """The runner runs inside Desktop but nothing answers on the host port."""

    exit_code = ExitCode.NOT_READY
