"""What llmctl runs, behind one interface: a :class:`Target`.

A target is what `llmctl up NAME` starts: a container profile (ollama, vllm, ...:
:class:`~llmctl.targets.container.ContainerTarget`) or Docker Model Runner
(:class:`~llmctl.targets.model_runner.target.ModelRunnerTarget`, a Docker Desktop feature
or a container on Docker Engine). `up`, `down` and `status` find the target by name
(:func:`llmctl.targets.registry.find`) and ask it; nothing tests which one it is.

The features to come ask the same object: export and lock take :meth:`Target.workload`
(the image, command, ports, volumes, environment keys, GPU, readiness and models, secrets
named but never valued) and :meth:`Target.status` (what runs now and where it answers);
expose takes the endpoints from the same status. Requests and results are plain data; the
CLI renders the results (human text and ``--json`` from the same objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from llmctl.errors import UsageError

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget, Engine
    from llmctl.errors import LlmctlError
    from llmctl.plan import ContainerSpec
    from llmctl.profiles import Readiness
    from llmctl.progress import ProgressSink
    from llmctl.readiness import WaitStatus

Notify = Callable[[str], None]
Confirm = Callable[[str, str], None]  # (question, what is refused without a yes)


def quiet(_: str) -> None:
    pass


def _refuse(question: str, what_if_no: str) -> None:
    raise UsageError(f"{what_if_no}: confirmation needed", "Nothing was changed.")


@dataclass
class Events:
    """How a target talks to its caller while it works (the CLI prints; a library may
    log or ignore)."""

    note: Notify = quiet  # what happened that is worth a line ("port 11434 is taken ...")
    step: Notify = quiet  # a step being taken ("running `docker ...`"), or its output
    warn: Notify = quiet  # what the user should know before trusting the result
    # Asks before something that needs a yes (exposing a port, removing models); raises
    # LlmctlError to refuse. The default refuses: a library caller must opt in.
    confirm: Confirm = _refuse


@dataclass(frozen=True)
class UpRequest:
    """`llmctl up NAME` as typed values: every option `up` takes. A target reads the ones
    that apply to it (a container profile: port, bind, volume, ...; Model Runner: tcp, gpu)."""

    name: str  # the target: a profile name, or model-runner
    port: int | None = None
    bind: str = "127.0.0.1"
    instance: str | None = None  # --name
    volume: str | None = None
    image: str | None = None
    gpus: str = "auto"
    env: tuple[str, ...] = ()  # --env items as given (KEY=VALUE, or KEY)
    # Secret variables named without a value: what the container takes, for a description
    # of it (export rebuilding a running container); `up` itself never sets them.
    secret_names: tuple[str, ...] = ()
    model: str | None = None
    model_file: str | None = None
    token_file: str | None = None
    tcp: int | None = None
    gpu: str = "auto"
    wait: bool = True
    timeout: float | None = None
    recreate: bool = False
    yes: bool = False
    dry_run: bool = False
    # `up --frozen`: run the container from this reference (``repo@sha256:...``, the lock's
    # image by digest) instead of its tag; the spec and its hash stay the tag's.
    pinned_image: str | None = None


@dataclass(frozen=True)
class DownRequest:
    """`llmctl down [NAME] [--name INSTANCE] [--volumes]`."""

    name: str | None = None  # the target (None: an instance named by --name)
    instance: str | None = None
    volumes: bool = False


@dataclass(frozen=True)
class Workload:
    """What a target runs, told so that another engine can run it (export), a lock can pin
    it, or a proxy can be put in front of it (expose). Secrets are named, never valued:
    ``spec.secrets`` is empty here, ``secret_env`` names them."""

    target: str  # the target's name (a profile, or model-runner)
    instance: str
    api: str  # ollama | openai
    api_path: str  # where the API is under the server's root: "", "/v1", "/engines/v1"
    # The container (image, command, env without secrets, ports, volumes, mounts, GPU,
    # labels); None when the runtime runs the server itself (Docker Desktop's Model Runner).
    spec: ContainerSpec | None
    readiness: Readiness  # how to tell it answers (route, status, body, time allowed)
    secret_env: tuple[str, ...] = ()
    models: tuple[str, ...] = ()  # what it loads at start (--model); pulled models aside
    notes: list[str] = field(default_factory=list)  # what the description leaves out
    kind: str = ""  # the profile's kind (ollama, vllm, ...), or the target's name


class UpOutcome(Protocol):
    """What every target's `up` result offers its caller besides its own fields."""

    notes: list[str]  # said after the result (remote daemon, Desktop settings, ...)

    def endpoint_for_config(self) -> tuple[str, str | None, str] | None:
        """(URL, model, what is done already) for `--write-endpoint`; None: not written."""
        ...


class Target(Protocol):
    """Something llmctl runs. Methods that take an engine contact it; the others do not."""

    name: str

    def check(self, request: UpRequest, daemon: DaemonTarget | None = None) -> None:
        """Everything the command line alone can tell, before the engine is contacted:
        raises UsageError/ConfigError/NotFoundError; asks (Events.confirm) what needs a yes
        unless ``request.dry_run``. ``daemon``: the daemon that will be used, resolved
        without contacting it (None: unknown)."""
        ...

    def plan(self, engine: Engine | None, request: UpRequest, *,
             unreachable: LlmctlError | None = None) -> Any:
        """`up --dry-run`: what `up` would do, reading the engine only (None: it could not be
        reached, for the reason ``unreachable``)."""
        ...

    def up(self, engine: Engine, request: UpRequest, *, progress: ProgressSink | None = None,
           on_status: Callable[[WaitStatus], None] | None = None) -> UpOutcome:
        """Start it (or reuse what runs) and wait until it answers (``request.wait``)."""
        ...

    def check_down(self, request: DownRequest) -> None:
        """`down`'s checks before the engine is contacted."""
        ...

    def down(self, engine: Engine, request: DownRequest) -> Any:
        """Stop and remove it (its volumes only with ``request.volumes``, after a yes)."""
        ...

    def status(self, engine: Engine) -> Any:
        """What runs now and how it answers; never raises for a target that is down."""
        ...

    def down_command(self, instance: str | None) -> str:
        """The command a user types to take one instance down (for hints)."""
        ...

    def workload(self, engine: Engine | None, request: UpRequest) -> Workload:
        """What `up` with ``request`` would run (see :class:`Workload`); reads the engine
        when given, never changes it."""
        ...
