"""Proxies (`proxy`): HTTP(S)_PROXY set without NO_PROXY covering localhost and 127.0.0.1
sends other tools' requests for local servers to the proxy."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from llmctl.doctor.env import DoctorEnv
from llmctl.doctor.registry import check
from llmctl.doctor.result import CheckResult, ok, warn

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def redact_url(value: str) -> str:
    """Hide credentials in a proxy URL: ``http://user:pw@h:3128`` → ``http://***@h:3128``."""
    parts = urlsplit(value if "://" in value else "http://" + value)
    if parts.username is None and parts.password is None:
        return value
    netloc = "***@" + parts.netloc.rsplit("@", 1)[1]
    redacted = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redacted if "://" in value else redacted.removeprefix("http://")


def no_proxy_covers(no_proxy: str) -> list[str]:
    """Which of localhost / 127.0.0.1 are NOT covered by a NO_PROXY value."""
    entries = [e.strip().lower() for e in no_proxy.split(",") if e.strip()]
    if "*" in entries:
        return []
    missing = []
    if not any(e in ("localhost", ".localhost") for e in entries):
        missing.append("localhost")
    if not any(e in ("127.0.0.1", "127.0.0.0/8", "127.0.0.1/32") or e.startswith("127.0.0.0/")
               for e in entries):
        missing.append("127.0.0.1")
    return missing


@check("proxy", "HTTP(S)_PROXY set without NO_PROXY covering localhost and 127.0.0.1")
def check_proxy(env: DoctorEnv) -> CheckResult:
    proxies = {k: redact_url(v) for k in PROXY_VARS if (v := env.environ.get(k, "").strip())}
    if not proxies:
        return ok("no HTTP(S)_PROXY set", proxies={})
    no_proxy = env.environ.get("NO_PROXY") or env.environ.get("no_proxy") or ""
    missing = no_proxy_covers(no_proxy)
    shown = ", ".join(f"{k}={v}" for k, v in proxies.items())
    if not missing:
        return ok(f"{shown}; NO_PROXY={no_proxy} covers loopback", proxies=proxies,
                  no_proxy=no_proxy)
    wanted = [e.strip() for e in no_proxy.split(",") if e.strip()]
    for item in ("localhost", "127.0.0.1", "::1"):
        if item not in wanted:
            wanted.append(item)
    value = ",".join(wanted)
    return warn(
        f"{shown} and NO_PROXY {'is unset' if not no_proxy else '=' + no_proxy} does not "
        f"cover {' and '.join(missing)}: curl, the ollama CLI and Python clients send "
        "requests for local servers to the proxy (llmctl itself never proxies loopback)",
        f"`export NO_PROXY={value} no_proxy={value}`.",
        proxies=proxies, no_proxy=no_proxy, missing=missing)


