"""A container profile (ollama, vllm, tgi, llamacpp, localai, a user's own) as a target.

The mechanics (plan the spec, reuse or create the container, wait for readiness, remove
it) are in :mod:`llmctl.lifecycle`; this puts them behind :class:`~llmctl.targets.base.Target`
and does the checks `up` and `down` make before the engine is contacted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from llmctl import lifecycle
from llmctl.inputs import prepare_options
from llmctl.plan import LABEL_PROFILE, LOOPBACK_BINDS, UpOptions, looks_secret
from llmctl.targets.base import Events, UpRequest, Workload

if TYPE_CHECKING:
    from llmctl.engine.model import DaemonTarget, Engine
    from llmctl.errors import LlmctlError
    from llmctl.profiles import Profile
    from llmctl.progress import ProgressSink
    from llmctl.readiness import WaitStatus
    from llmctl.targets.base import DownRequest

API_PATHS = {"ollama": "", "openai": "/v1"}  # where each API lives under the server root


class ContainerTarget:
    """One profile, run as a container by llmctl. ``name`` None: `down --name NAME` (an
    instance of any profile). ``stop_command`` words how a user stops one of llmctl's
    containers that holds a port (any target's: see llmctl.targets.registry)."""

    def __init__(self, name: str | None, events: Events | None = None,
                 stop_command: lifecycle.StopCommand = lifecycle.down_command) -> None:
        self.name = name or ""
        self.events = events or Events()
        self._stop_command = stop_command
        self._checked: tuple[UpRequest, Profile, UpOptions] | None = None

    # --- up --------------------------------------------------------------------------------
    def check(self, request: UpRequest, daemon: DaemonTarget | None = None) -> None:
        self._prepare(request, daemon)

    def _prepare(self, request: UpRequest,
                 daemon: DaemonTarget | None = None) -> tuple[Profile, UpOptions]:
        """The profile and the options, checked (once per request)."""
        if self._checked is not None and self._checked[0] == request:
            return self._checked[1], self._checked[2]
        from llmctl.plan import parse_env, validate_bind
        from llmctl.profiles import load_profile

        profile = load_profile(request.name)
        env = parse_env(list(request.env))
        env.update({k: "" for k in request.secret_names if k not in env})  # named, no value
        opts = UpOptions(port=request.port, bind=validate_bind(request.bind),
                         name=request.instance, volume=request.volume, image=request.image,
                         gpus=request.gpus, env=env,
                         model=request.model, model_file=request.model_file,
                         token_file=request.token_file, confirm_host_folder=request.yes)
        prepare_options(profile, opts, daemon)
        self._warn_inline_secrets(request.env, profile)
        if not request.dry_run and opts.bind not in LOOPBACK_BINDS:
            self.events.warn(lifecycle.exposure_warning(
                opts.bind, request.port or profile.host_port, profile))
            self.events.confirm("Expose it anyway?", f"--bind {opts.bind}")
        self._checked = (request, profile, opts)
        return profile, opts

    def _warn_inline_secrets(self, items: tuple[str, ...], profile: Profile) -> None:
        for item in items:
            key, sep, _ = item.partition("=")
            if sep and looks_secret(key, (s.env for s in profile.secrets)):
                self.events.warn(
                    f"--env {key}=...: a secret on the command line is visible to other "
                    "users of this machine (ps) and stays in your shell history; export it "
                    f"and pass --env {key} (no value) instead. Its value is never printed.")

    def plan(self, engine: Engine | None, request: UpRequest, *,
             unreachable: LlmctlError | None = None) -> lifecycle.DryRunResult:
        profile, opts = self._prepare(request)
        if engine is None and unreachable is not None:
            self.events.warn(f"{unreachable.message}; planning without the engine (default "
                             "port, GPU only where the profile requires one)")
        return lifecycle.dry_run(engine, profile, opts, recreate=request.recreate,
                                 stop_command=self._stop_command)

    def up(self, engine: Engine, request: UpRequest, *, progress: ProgressSink | None = None,
           on_status: Callable[[WaitStatus], None] | None = None) -> lifecycle.UpResult:
        from llmctl.progress import null_sink

        profile, opts = self._prepare(request)
        return lifecycle.up(
            engine, profile, opts, wait=request.wait, timeout=request.timeout,
            recreate=request.recreate, progress=progress or null_sink,
            notify=self.events.note, on_warning=self.events.warn, on_status=on_status,
            stop_command=self._stop_command, pinned_image=request.pinned_image,
        )

    # --- down and status -------------------------------------------------------------------
    def check_down(self, request: DownRequest) -> None:
        from llmctl.names import validate_instance_name

        if request.name is not None:
            validate_instance_name(request.name, "PROFILE")
        if request.instance is not None:
            validate_instance_name(request.instance)

    def down(self, engine: Engine, request: DownRequest) -> lifecycle.DownResult:
        if request.volumes:
            self.events.confirm("Remove the volumes too? The models stored in them are "
                                "deleted.", "--volumes")
        return lifecycle.down(engine, request.name, name=request.instance,
                              volumes=request.volumes)

    def status(self, engine: Engine) -> list[lifecycle.StatusEntry]:
        """This profile's containers and their health."""
        return lifecycle.status(engine, labels={LABEL_PROFILE: self.name})

    def down_command(self, instance: str | None) -> str:
        return lifecycle.down_command(self.name, instance)

    # --- for export, lock and expose -------------------------------------------------------
    def workload(self, engine: Engine | None, request: UpRequest) -> Workload:
        profile, opts = self._prepare(replace(request, dry_run=True))
        planned = lifecycle.plan_up(engine, profile, opts, dry_run=True,
                                    stop_command=self._stop_command)
        spec = planned.spec
        return Workload(
            target=profile.name, instance=spec.instance, api=spec.api,
            api_path=API_PATHS.get(spec.api, ""), spec=replace(spec, secrets={}),
            readiness=profile.readiness, secret_env=tuple(sorted(spec.secrets)),
            models=(spec.model,) if spec.model else (), notes=list(planned.warnings),
            kind=profile.kind,
        )
