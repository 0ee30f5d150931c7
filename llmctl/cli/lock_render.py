"""Human output of `llmctl lock`, `llmctl verify` and the frozen part of `up`/`pull`
(``--json`` prints the same result objects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl.cli.output import note, out, table, warn

if TYPE_CHECKING:
    from llmctl.lock.capture import CaptureResult
    from llmctl.lock.drift import VerifyReport
    from llmctl.lock.frozen import FrozenModels
    from llmctl.lock.model import LockedServer


def _short(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else "-"


def image_text(server: LockedServer) -> str:
    image = server.image
    if image is None:
        return "(Docker Desktop's runner)"
    if image.local:
        return f"{image.ref} (local, image ID {_short(image.id)})"
    return f"{image.ref} @{_short(image.digest)}"


def models_text(server: LockedServer) -> str:
    if not server.models:
        return "-"
    enforced = all(m.pull_by_digest for m in server.models)
    how = "pinned by digest" if enforced else "verified only: Ollama cannot pull by digest"
    return f"{len(server.models)}, {how}"


def locked(result: CaptureResult, path: str) -> None:
    lock = result.lock
    for why in result.left_out:
        warn(f"left out of the lock: {why}")
    for text in result.notes:
        note(text)
    table(["server", "image", "models"],
          [[s.name, image_text(s), models_text(s)] for s in lock.servers])
    models = sum(len(s.models) for s in lock.servers)
    out(f"\nwrote {path}: {len(lock.servers)} server(s), {models} model(s), "
        f"{len(lock.endpoints)} endpoint(s); check it with `llmctl verify`")


def verified(report: VerifyReport) -> None:
    for text in report.notes:
        note(text)
    checked = (f"{report.servers} server(s), {report.models} model(s), "
               f"{report.endpoints} endpoint(s) in {report.elapsed_s:.2f} s")
    if report.equal:
        out(f"{report.lock}: what runs matches the lock ({checked})")
        return
    for d in report.drift:
        out(f"{d.kind}: {d.message}")
        if d.fix:
            out(f"  fix: {d.fix}")
    out(f"\n{report.lock}: {len(report.drift)} difference(s) ({checked})")


def frozen_models(result: FrozenModels) -> None:
    if not result.models:
        out("the lock names no model for these servers: nothing to pull")
    for m in result.models:
        out(f"{m.server}: {m.name} {m.action} ({_short(m.digest)})")
