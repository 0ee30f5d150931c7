"""Ollama releases with the known CVE fixes (`ollama-version`): every Ollama doctor finds
(llmctl's running containers, whatever answers as Ollama on 11434 and 11435, the configured
endpoint) is asked ``GET /api/version`` and compared with the first releases that fix the
known CVEs (reference/reliability.md): CVE-2024-37032 ("Probllama") in 0.1.34,
CVE-2026-7482 in 0.17.1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from llmctl.doctor.checks.common import running_ollamas, url_of, version_of
from llmctl.doctor.checks.ports import port_owner
from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, Finding, combine, skip
from llmctl.errors import LlmctlError

if TYPE_CHECKING:
    from llmctl.managed import ManagedServer

# (CVE, first release with the fix), oldest first
CVE_FIXES: tuple[tuple[str, Version], ...] = (
    ("CVE-2024-37032", Version("0.1.34")),
    ("CVE-2026-7482", Version("0.17.1")),
)
FIXED_IN = max(fixed for _, fixed in CVE_FIXES)  # the first release with every known fix
ALL_FIXES = " and ".join(f"{cve} ({fixed})" for cve, fixed in CVE_FIXES)


def parse_ollama_version(text: str | None) -> Version | None:
    """The release an Ollama version string names, or None when it names none.

    PEP 440 first, so a pre-release stays one (``0.17.1-rc2`` is 0.17.1rc2, older than the
    0.17.1 release); a suffix PEP 440 does not know (``0.12.6-rocm``) falls back to the
    release number in front. ``0.0.0``, what a build from source reports, names none."""
    text = (text or "").strip()
    try:
        version: Version | None = Version(text)
    except InvalidVersion:
        version = version_of(text)
    return None if version is None or version == Version("0") else version


def missing_fixes(version: Version) -> list[tuple[str, Version]]:
    """The known CVEs ``version`` has no fix for: releases before the fixed one, and
    pre-releases of it (the fix is confirmed in the release)."""
    return [(cve, fixed) for cve, fixed in CVE_FIXES if version < fixed]


@dataclass(frozen=True)
class Target:
    """An Ollama doctor found: what to call it, its server root, how to move it on."""

    where: str
    url: str
    fix: str


@check("ollama-version", "the Ollama servers found are not older than the releases with the "
                         "known CVE fixes")
def check_ollama_version(env: DoctorEnv) -> CheckResult:
    targets = _targets(env)
    if not targets:
        return skip(f"no Ollama to check: none of llmctl's runs, nothing answers as Ollama on "
                    f"127.0.0.1:{env.ollama_port} or :{env.alt_ollama_port}, and no configured "
                    "endpoint is an Ollama")
    findings: list[Finding] = []
    rows: list[dict[str, Any]] = []
    for t in targets:
        text = env.ollama_version(t.url)
        version = parse_ollama_version(text)
        lacking = missing_fixes(version) if version is not None else []
        rows.append({"where": t.where, "url": t.url, "version": text,
                     "missing_fixes": None if version is None else [c for c, _ in lacking]})
        if text is None:
            findings.append(Finding(
                "warn", f"{t.where} answers as Ollama but not GET /api/version (old releases "
                        f"lack it): cannot tell whether it has the fixes for {ALL_FIXES}",
                t.fix))
        elif version is None:
            findings.append(Finding(
                "warn", f"{t.where} reports version {text!r}, which names no release: "
                        f"cannot tell whether it has the fixes for {ALL_FIXES}", t.fix))
        elif lacking:
            which = " and ".join(f"{cve} (fixed in {fixed})" for cve, fixed in lacking)
            pre = (f", a pre-release of {version.base_version}" if version.is_prerelease
                   and Version(version.base_version) in {f for _, f in lacking} else "")
            findings.append(Finding(
                "warn", f"{t.where} runs Ollama {text}{pre}: it lacks the fix"
                        f"{'es' if len(lacking) > 1 else ''} for {which}", t.fix))
        else:
            findings.append(Finding("ok", f"{t.where}: Ollama {text}, with the fixes for "
                                          f"{ALL_FIXES}"))
    return combine(findings, servers=rows, fixed_in=str(FIXED_IN))


def _targets(env: DoctorEnv) -> list[Target]:
    """llmctl's running Ollamas, then 11434/11435 on this machine, then the configured
    endpoint; each server root once."""
    found: dict[str, Target] = {}
    image = _default_image()
    for s in running_ollamas(env):
        if s.endpoint:
            found.setdefault(s.endpoint, Target(f"llmctl's {s.instance} ({s.image})",
                                                s.endpoint, _managed_fix(s, image)))
    for port in (env.ollama_port, env.alt_ollama_port):
        url = url_of("127.0.0.1", port)
        if url in found or env.answer(url).kind != "ollama":
            continue
        owner = port_owner(env, port)
        if owner.kind == "container":
            fix = (f"Run {owner.container} again from a fixed image (ollama/ollama:{FIXED_IN} "
                   f"or later{f', e.g. `docker pull {image}`' if image else ''}), or use "
                   "llmctl's: `llmctl up ollama`.")
        elif owner.kind == "llmctl":
            fix = (f"Recreate it on {image or 'a fixed image'}: `llmctl up ollama --name "
                   f"{owner.instance} --recreate` (its volume and models are kept).")
        else:
            fix = (f"Upgrade the Ollama installed on this machine to {FIXED_IN} or later "
                   "(ollama.com/download), or stop it and use llmctl's: `llmctl up ollama`.")
        found[url] = Target(f"{owner.holder} on port {port}", url, fix)
    ep = _endpoint(env)
    if ep is not None:
        from llmctl.urls import connectable, server_root

        root = connectable(server_root(ep.endpoint))
        if root not in found and env.answer(root).kind == "ollama":
            found[root] = Target(f"the configured endpoint {ep.name} ({root})", root,
                                 f"Upgrade the Ollama at {root} to {FIXED_IN} or later (if it "
                                 "is llmctl's: `llmctl up ollama --name NAME --recreate`).")
    return list(found.values())


def _managed_fix(s: ManagedServer, image: str | None) -> str:
    if s.profile == "ollama":
        return (f"Recreate it on {image or 'the built-in profile image'}: `llmctl up ollama "
                f"--name {s.instance} --recreate` (its volume and models are kept).")
    return (f"Set `image:` to ollama/ollama:{FIXED_IN} or later in the profile {s.profile}, "
            f"then `llmctl up {s.profile} --name {s.instance} --recreate`.")


def _default_image() -> str | None:
    """The built-in ollama profile's image (what `llmctl up ollama` runs)."""
    from llmctl.profiles import builtin_dir, load_profile_file

    try:
        return load_profile_file(builtin_dir() / "ollama.yaml", origin="built-in").image
    except (LlmctlError, OSError):
        return None


def _endpoint(env: DoctorEnv) -> Any:
    """The configured endpoint, or None (none, or unreadable: the `endpoint` check says)."""
    from llmctl import endpoint as ep_mod

    try:
        return ep_mod.load_endpoint(path=ep_mod.endpoints_path())
    except LlmctlError:
        return None
