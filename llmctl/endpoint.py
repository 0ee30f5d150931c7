"""The endpoint config the MCP client reads: model, render (yaml/json/env), atomic write.

File: ``config_dir()/endpoints.yaml`` (:func:`llmctl.paths.config_dir`; ``LLMCTL_ENDPOINTS_FILE``
overrides)::

    default: ollama
    endpoints:
      ollama:
        llm_type: ollama            # or docker-model-runner, docker-container, openai-compatible
        api_type: ollama            # ollama | openai
        endpoint: http://127.0.0.1:11434             # for host processes
        endpoint_container: http://host.docker.internal:11434   # for other containers
                                    # (http://llmctl-NAME:PORT for a server llmctl runs)
        model: llama3.2:latest
        bearer_token: ...           # optional; never printed
        ca_file: /path/ca.crt       # optional: the CA that signed the server's certificate
                                    # (`llmctl expose --tls internal`), trusted for it only
        verified: {at: ..., server: ollama, model_present: true, tools: true}

Everything else in the file (other top-level keys, other endpoints, comments, key order) is
kept byte for byte: only the entry being written (and ``default:``) is re-rendered. Writes
take a lock beside the file, go through a temp file in the same folder (fsync,
``os.replace``), and leave the file mode 0600 because it may hold tokens (``llmctl.files``:
also what a bad, foreign-owned or locked file says).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmctl.errors import ConfigError, NotFoundError, UsageError
from llmctl.files import atomic_write as atomic_write  # the file part lives in llmctl.files
from llmctl.files import locked, read_text
from llmctl.paths import config_dir
from llmctl.urls import api_base, connectable, server_root

if TYPE_CHECKING:
    from collections.abc import Callable

ENV_FILE = "LLMCTL_ENDPOINTS_FILE"
API_TYPES = ("ollama", "openai")
LLM_TYPES = ("ollama", "docker-model-runner", "docker-container", "openai-compatible")
FORMATS = ("yaml", "json", "env")
OWNED_FIELDS = (
    "llm_type",
    "api_type",
    "endpoint",
    "endpoint_container",
    "model",
    "bearer_token",
    "ca_file",
    "verified",
)
REDACTED = "***"
FILE_FIX = (f"Fix the file, or move it away: `llmctl endpoint write` then writes a new one "
            f"({ENV_FILE} points llmctl at another file).")


# --- model ---


@dataclass
class Verified:
    at: str
    server: str
    model_present: bool
    tools: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "server": self.server,
            "model_present": self.model_present,
            "tools": self.tools,
        }


@dataclass
class Endpoint:
    name: str
    api_type: str
    endpoint: str
    model: str
    llm_type: str = "openai-compatible"
    endpoint_container: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    ca_file: str | None = None  # a CA certificate (PEM) trusted for this endpoint only
    verified: Verified | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys llmctl doesn't own

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}

    def entry(self, *, redact: bool = True) -> dict[str, Any]:
        """The file entry (owned fields in a fixed order, then unknown keys)."""
        doc: dict[str, Any] = {
            "llm_type": self.llm_type,
            "api_type": self.api_type,
            "endpoint": self.endpoint,
        }
        if self.endpoint_container:
            doc["endpoint_container"] = self.endpoint_container
        doc["model"] = self.model
        if self.bearer_token:
            doc["bearer_token"] = REDACTED if redact else self.bearer_token
        if self.ca_file:
            doc["ca_file"] = self.ca_file
        if self.verified:
            doc["verified"] = self.verified.to_dict()
        for k, v in self.extra.items():
            doc.setdefault(k, v)
        return doc

    def to_dict(self) -> dict[str, Any]:
        """For --json: always redacted."""
        return {"name": self.name, **self.entry(redact=True)}


def endpoints_path() -> Path:
    env = os.environ.get(ENV_FILE)
    if env:
        return Path(env).expanduser()
    return config_dir() / "endpoints.yaml"


def endpoint_from_url(url: str, *, api: str | None = None, model: str = "",
                      what: str = "--endpoint") -> Endpoint:
    """An ad-hoc Endpoint for a URL (checked by :func:`llmctl.urls.parse`, ``what`` names
    where it came from); the API is ``openai`` when the path ends in ``/v1`` (the MCP
    client's rule), otherwise ``ollama``, unless ``api`` says."""
    from llmctl import urls

    url = urls.normalize(url, what)
    api_type = api or ("openai" if url.endswith("/v1") else "ollama")
    if api_type not in API_TYPES:
        raise UsageError(f"--api must be one of {', '.join(API_TYPES)}, not {api_type!r}")
    llm_type = (
        "docker-model-runner"
        if "/engines" in url
        else ("ollama" if api_type == "ollama" else "openai-compatible")
    )
    if api_type == "openai" and url.endswith("/v1"):
        base = url
    else:
        base = api_base(server_root(url), api_type, llm_type)
    return Endpoint(name=url, api_type=api_type, endpoint=base, model=model, llm_type=llm_type)


def switch_api(ep: Endpoint, api: str) -> Endpoint:
    """The same server through the other API (Ollama and Model Runner speak both)."""
    if api not in API_TYPES:
        raise UsageError(f"--api must be one of {', '.join(API_TYPES)}, not {api!r}")
    root = server_root(ep.endpoint)
    return Endpoint(
        name=ep.name,
        api_type=api,
        endpoint=api_base(root, api, ep.llm_type),
        model=ep.model,
        llm_type=ep.llm_type,
        bearer_token=ep.bearer_token,
        ca_file=ep.ca_file,
    )


def resolve_endpoint(endpoint: Endpoint | str | None, api: str | None) -> Endpoint:
    """What a chat goes through: ``endpoint`` as given (an Endpoint), a URL, a name in the
    endpoint file, or (None) the default one; through ``api`` when given."""
    if endpoint is None:
        ep = load_endpoint()
    elif isinstance(endpoint, str) and "://" in endpoint:
        ep = endpoint_from_url(endpoint, api=api)
        known = configured_for(ep.endpoint)  # the key and CA `llmctl expose` wrote for it
        if known is not None:
            ep.bearer_token, ep.ca_file = known.bearer_token, known.ca_file
    elif isinstance(endpoint, str):
        ep = load_endpoint(endpoint)
    else:
        ep = endpoint
    if api and api != ep.api_type:
        ep = switch_api(ep, api)
    return ep


# --- reading ---


def _parse(text: str, path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}not valid YAML ({problem})", FILE_FIX) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping", FILE_FIX)
    eps = doc.get("endpoints")
    if eps is not None and not isinstance(eps, dict):
        raise ConfigError(f"{path}: endpoints: must be a mapping of name to endpoint", FILE_FIX)
    default = doc.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{path}: default: must be an endpoint name", FILE_FIX)
    return doc


def _endpoint_from_entry(name: str, entry: Any, path: Path) -> Endpoint:
    where = f"{path}: endpoints.{name}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a mapping")
    for key in ("api_type", "endpoint", "model"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{where}.{key}: missing or not a string")
    if entry["api_type"] not in API_TYPES:
        raise ConfigError(
            f"{where}.api_type: {entry['api_type']!r} is not one of {', '.join(API_TYPES)}"
        )
    if urlsplit(entry["endpoint"]).scheme not in ("http", "https"):
        raise ConfigError(f"{where}.endpoint: {entry['endpoint']!r} is not an http(s) URL")
    ver = entry.get("verified")
    verified = None
    if isinstance(ver, dict):
        verified = Verified(
            at=str(ver.get("at", "")),
            server=str(ver.get("server", "")),
            model_present=bool(ver.get("model_present")),
            tools=ver.get("tools") if isinstance(ver.get("tools"), bool) else None,
        )
    token = entry.get("bearer_token")
    ca_file = entry.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not ca_file):
        raise ConfigError(f"{where}.ca_file: not a file path")
    return Endpoint(
        name=name,
        llm_type=str(entry.get("llm_type") or "openai-compatible"),
        api_type=entry["api_type"],
        endpoint=entry["endpoint"],
        endpoint_container=entry.get("endpoint_container") or None,
        model=entry["model"],
        bearer_token=str(token) if token else None,
        ca_file=ca_file,
        verified=verified,
        extra={k: v for k, v in entry.items() if k not in OWNED_FIELDS},
    )


def read_config(path: Path | None = None) -> tuple[str | None, list[Endpoint]]:
    """(default name, endpoints in file order). No file, or an empty one, has none; a file
    that cannot be used (not UTF-8, a link to nothing, not a regular file, not readable by
    you) is a ConfigError naming the path and the fix."""
    path = path or endpoints_path()
    text = read_text(path, fix=FILE_FIX)
    if text is None:
        return None, []
    doc = _parse(text, path)
    eps = [_endpoint_from_entry(str(n), e, path) for n, e in (doc.get("endpoints") or {}).items()]
    return doc.get("default"), eps


def _from_env() -> Endpoint | None:
    url = os.environ.get("LLM_ENDPOINT")
    model = os.environ.get("LLM_MODEL")
    if not url or not model:
        return None
    ep = endpoint_from_url(url, api=os.environ.get("LLM_API_TYPE") or None, model=model,
                           what="LLM_ENDPOINT")
    ep.name = "env"
    ep.bearer_token = os.environ.get("OPENAI_API_KEY") if ep.api_type == "openai" else None
    if ep.bearer_token == "unused":
        ep.bearer_token = None
    return ep


def load_endpoint(name: str | None = None, path: Path | None = None) -> Endpoint:
    """The named endpoint, else the default one, else the only one; with no file, the
    ``LLM_ENDPOINT``/``LLM_MODEL``/``LLM_API_TYPE`` environment (what ``endpoint env``
    exports)."""
    path = path or endpoints_path()
    default, eps = read_config(path)
    by_name = {e.name: e for e in eps}
    if name:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise NotFoundError(
                f"no endpoint named {name!r} in {path} (known: {known})",
                "List them with: llmctl endpoint list",
            )
        return by_name[name]
    if default and default in by_name:
        return by_name[default]
    if len(eps) == 1:
        return eps[0]
    if not eps:
        env = _from_env()
        if env:
            return env
        raise NotFoundError(
            f"no endpoint configured ({path} has none)",
            "Write one: llmctl endpoint write (or pass --endpoint URL).",
        )
    raise NotFoundError(
        f"several endpoints in {path} and no default",
        "Choose one with --endpoint NAME, or: llmctl endpoint write --name NAME",
    )


_configured_cache: dict[Path, tuple[tuple[int, int], list[Endpoint]]] = {}


def configured_for(url: str, path: Path | None = None) -> Endpoint | None:
    """The configured endpoint whose server is at ``url``'s origin (scheme, host and port)
    and that carries a bearer token or a CA file; None when there is none, or the endpoint
    file cannot be read (a command that merely talks to a URL never fails on that file).

    What lets a URL typed on the command line (``probe URL``, ``pull --endpoint URL``) use
    the key `llmctl expose` wrote for that server, and what the HTTP client factory asks for
    the CA of an ``https`` origin: a token and a CA are used for their own server only.
    The file is read once per change (stat per call)."""
    path = path or endpoints_path()
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _configured_cache.get(path)
    if cached is None or cached[0] != stamp:
        from llmctl.errors import LlmctlError

        try:
            _, eps = read_config(path)
        except LlmctlError:
            eps = []
        cached = (stamp, [e for e in eps if e.bearer_token or e.ca_file])
        _configured_cache[path] = cached
    want = _origin(url)
    if want is None:
        return None
    return next((e for e in cached[1] if _origin(e.endpoint) == want), None)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(connectable(url))
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


# --- rendering ---


def render(ep: Endpoint, fmt: str, *, reveal: bool = False) -> str:
    """One endpoint as yaml, json or shell exports. ``reveal`` includes the token (files only)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "env":
        return render_env(ep, reveal=reveal)
    doc = {"name": ep.name, **ep.entry(redact=not reveal)}
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False))


def env_vars(ep: Endpoint, *, reveal: bool = False) -> dict[str, str]:
    root = connectable(server_root(ep.endpoint))
    endpoint = connectable(ep.endpoint)
    openai_base = endpoint if ep.api_type == "openai" else root + "/v1"
    key = "unused"  # OpenAI SDKs insist on a key; local servers ignore it
    if ep.bearer_token:
        key = ep.bearer_token if reveal else REDACTED
    return {
        "LLM_API_TYPE": ep.api_type,
        "LLM_ENDPOINT": endpoint,
        "LLM_MODEL": ep.model,
        "OPENAI_BASE_URL": openai_base,
        "OPENAI_API_KEY": key,
        "OLLAMA_HOST": root,
    }


def render_env(ep: Endpoint, *, reveal: bool = False) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env_vars(ep, reveal=reveal).items())


# --- writing: atomic, locked, 0600, preserving what we do not own ---
#
# A text patcher, not ruamel.yaml: tried on hand-written files, a ruamel round-trip re-indents
# the whole file to one indentation (4-space mappings, `- item` flush under its key), and it
# hangs a comment before a key onto the entry above it, so replacing or removing an entry
# drops the comment that introduces the next one (or a commented-out endpoint after it). The
# patcher re-renders only `default:` and the one entry, and checks its result with
# yaml.safe_load; layouts it does not know (flow style, `---`/`%YAML`, a BOM) fall back to
# one safe_dump of the whole document.


_TOP_KEY = re.compile(r"""^(?:"[^"]*"|'[^']*'|[^\s#:'"-][^:#]*?):(?:\s|$)""")


def _split_blocks(lines: list[str], indent: int) -> list[tuple[str | None, list[str]]]:
    """Split lines into blocks that start with a key at exactly ``indent`` spaces."""
    import yaml

    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in lines:
        body = line[indent:]
        if (
            len(line) - len(line.lstrip(" ")) == indent
            and line[:indent].strip() == ""
            and _TOP_KEY.match(body)
        ):
            key_text = (
                body.split(":", 1)[0]
                if body[0] not in "\"'"
                else body[: body.index(body[0], 1) + 1]
            )
            key = yaml.safe_load(key_text)
            blocks.append((str(key), [line]))
        else:
            blocks[-1][1].append(line)
    return blocks


def _dump_entry(name: str, entry: dict[str, Any], indent: int) -> list[str]:
    import yaml

    text = yaml.safe_dump(
        {name: entry}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000
    )
    return [" " * indent + ln + "\n" for ln in text.splitlines()]


def _patch_text(
    text: str, new: dict[str, Any], name: str, entry: dict[str, Any] | None
) -> str | None:
    """Re-render only ``default:`` and ``endpoints.<name>`` in ``text``; None if the file's
    layout is too unusual to patch safely (the caller then dumps the whole document)."""
    import yaml

    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    top = _split_blocks(lines, 0)
    keys = [k for k, _ in top if k is not None]
    if len(keys) != len(set(keys)):
        return None
    out: list[tuple[str | None, list[str]]] = []
    for key, block in top:
        if key == "default":
            if "default" in new:
                block = [f"default: {_scalar(new['default'])}\n"] + [
                    ln for ln in block[1:] if not ln.strip() or ln.lstrip().startswith("#")
                ]
            else:
                continue
        elif key == "endpoints":
            patched = _patch_endpoints(block, name, entry)
            if patched is None:
                return None
            block = patched
        out.append((key, block))
    if "default" in new and "default" not in keys:
        # put `default:` first, after any leading comments
        out.insert(1, ("default", [f"default: {_scalar(new['default'])}\n"]))
    if "endpoints" not in keys and entry is not None:
        out.append(("endpoints", ["endpoints:\n", *_dump_entry(name, entry, 2)]))
    result = "".join("".join(b) for _, b in out)
    try:
        if yaml.safe_load(result) != new:
            return None
    except yaml.YAMLError:
        return None
    return result


def _scalar(value: Any) -> str:
    import yaml

    return (
        str(yaml.safe_dump(value, default_flow_style=True, width=1000))
        .strip()
        .removesuffix("\n...")
        .strip()
    )


def _patch_endpoints(block: list[str], name: str, entry: dict[str, Any] | None) -> list[str] | None:
    head, body = block[0], block[1:]
    if head.split(":", 1)[1].split("#", 1)[0].strip():  # flow style `endpoints: {...}`
        if entry is None:
            return None
        return None
    indents = [
        len(ln) - len(ln.lstrip(" "))
        for ln in body
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    indent = indents[0] if indents else 2
    if any("\t" in ln[: len(ln) - len(ln.lstrip())] for ln in body):
        return None
    blocks = _split_blocks(body, indent)
    names = [k for k, _ in blocks if k is not None]
    if len(names) != len(set(names)):
        return None
    new_body: list[str] = []
    found = False
    for key, lines in blocks:
        if key == name:
            found = True
            if entry is None:
                continue
            trailing: list[str] = []
            while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
                trailing.insert(0, lines.pop())
            new_body += _dump_entry(name, entry, indent) + trailing
        else:
            new_body += lines
    if not found and entry is not None:
        trailing2: list[str] = []
        while new_body and not new_body[-1].strip():
            trailing2.insert(0, new_body.pop())
        new_body += _dump_entry(name, entry, indent) + trailing2
    return [head, *new_body]


def _render_file(text: str, doc: dict[str, Any], name: str, entry: dict[str, Any] | None) -> str:
    import yaml

    patched = _patch_text(text, doc, name, entry)
    if patched is not None:
        return patched
    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False))


def _update(
    path: Path,
    name: str,
    entry: dict[str, Any] | None,
    *,
    make_default: bool | None,
    on_wait: Callable[[str], None] | None = None,
) -> None:
    with locked(path, on_wait=on_wait):
        text = read_text(path, fix=FILE_FIX) or ""
        doc = _parse(text, path)
        eps = dict(doc.get("endpoints") or {})
        if entry is None:
            if name not in eps:
                raise NotFoundError(
                    f"no endpoint named {name!r} in {path}",
                    "List them with: llmctl endpoint list",
                )
            del eps[name]
        else:
            old = eps.get(name)
            if (
                isinstance(old, dict)
                and "bearer_token" not in entry
                and old.get("bearer_token")
                and old.get("endpoint") == entry.get("endpoint")
            ):  # rewriting the same server without --token-file keeps its token
                entry = {**entry, "bearer_token": old["bearer_token"]}
            if (
                isinstance(old, dict)
                and "ca_file" not in entry
                and old.get("ca_file")
                and old.get("endpoint") == entry.get("endpoint")
            ):  # ... and the CA its certificate is signed by (`llmctl expose --tls internal`)
                entry = {**entry, "ca_file": old["ca_file"]}
            merged = dict(entry)
            if isinstance(old, dict):  # keep keys llmctl does not own, in their place
                merged = {
                    k: entry.get(k, v)
                    for k, v in old.items()
                    if k in entry or k not in OWNED_FIELDS
                }
                merged.update({k: v for k, v in entry.items() if k not in merged})
            eps[name] = merged
            entry = merged
        new = dict(doc)
        if "endpoints" in new or eps:
            new["endpoints"] = eps
        if entry is not None and (
            make_default or (make_default is None and not doc.get("default"))
        ):
            new["default"] = name
        elif entry is None and doc.get("default") == name:
            new.pop("default", None)
        text_out = _render_file(text, new, name, entry)
        if text_out == text and path.exists():
            if (path.stat().st_mode & 0o777) != 0o600:
                os.chmod(path, 0o600)
            return
        atomic_write(path, text_out.encode("utf-8"))


def save_endpoint(
    ep: Endpoint, *, make_default: bool | None = True, path: Path | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Path:
    """Add or replace ``ep`` in the endpoint file (``make_default=None``: only when there is
    no default yet). ``on_wait`` hears at once when another process holds the file's lock."""
    path = path or endpoints_path()
    entry = ep.entry(redact=False)
    for k in ep.extra:
        entry.pop(k, None)
    _update(path, ep.name, entry, make_default=make_default, on_wait=on_wait)
    return path


def remove_endpoint(name: str, path: Path | None = None,
                    on_wait: Callable[[str], None] | None = None) -> Path:
    path = path or endpoints_path()
    _update(path, name, None, make_default=None, on_wait=on_wait)
    return path


def export(ep: Endpoint, fmt: str, output: Path) -> Path:
    """Write one endpoint in ``fmt`` to ``output`` (0600, atomic, token included)."""
    atomic_write(output, render(ep, fmt, reveal=True).encode("utf-8"))
    return output
