"""Model references: Ollama's name grammar, Docker Model Runner's reference rules, routing.

Pure functions, no I/O. Every reference is validated here before any request is sent; a bad
one raises :class:`~llmctl.errors.UsageError` with one line that names the offending part.

Ollama (reference/server-apis.md §1.11, types/model/name.go)
    ``[scheme://]host/namespace/model:tag``; defaults ``registry.ollama.ai``, ``library``,
    ``latest``. A ``:`` is the tag separator only after the last ``/`` (so ``host:port``
    works). Part rules: first character alphanumeric or ``_``; then host ``[A-Za-z0-9_.:-]``
    (1-350), namespace ``[A-Za-z0-9_-]`` (1-80), model and tag ``[A-Za-z0-9_.-]`` (1-80).
    Comparison is case-insensitive; the display form drops the default host and ``library/``
    and always keeps the tag.

Docker Model Runner (§2.2, §2.7; distribution/client.go ``normalizeModelName``)
    Trim; ``hf.co/`` means ``huggingface.co/``; no registry and no ``/`` means ``ai/``; the tag
    defaults to ``latest``. The name part is lower-cased, the tag is not. Repository path
    components are ``[a-z0-9]+`` joined by ``.``, ``_``, ``__`` or ``-+``; the repository is at
    most 255 characters; tags match ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``. ``ai/`` tags follow
    ``{parameters}-{quantization}`` (``360M-Q4_K_M``) or ``latest``; those parts are parsed for
    display, and any other tag Docker's grammar accepts is passed through unchanged.

Routing
    ``ai/…``, ``docker.io/ai/…`` (also ``index.docker.io/ai/…``) and ``hf.co/…`` (also
    ``huggingface.co/…``) go to Model Runner; everything else goes to Ollama.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmctl.errors import UsageError

OLLAMA = "ollama"
MODEL_RUNNER = "model-runner"
BACKENDS = (OLLAMA, MODEL_RUNNER)

# --- Ollama ---------------------------------------------------------------------------------

OLLAMA_DEFAULT_HOST = "registry.ollama.ai"
OLLAMA_DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_FIRST = "letters, digits or '_'"
# part -> (pattern of the characters after the first, human list of them, max length)
_OLLAMA_PARTS: dict[str, tuple[re.Pattern[str], str, int]] = {
    "host": (re.compile(r"[A-Za-z0-9_.:-]*"), "letters, digits, '_', '.', ':', '-'", 350),
    "namespace": (re.compile(r"[A-Za-z0-9_-]*"), "letters, digits, '_', '-'", 80),
    "model": (re.compile(r"[A-Za-z0-9_.-]*"), "letters, digits, '_', '.', '-'", 80),
    "tag": (re.compile(r"[A-Za-z0-9_.-]*"), "letters, digits, '_', '.', '-'", 80),
    "digest": (re.compile(r"[A-Za-z0-9_:-]*"), "letters, digits, '_', ':', '-'", 80),
}
_FIRST_OK = re.compile(r"[A-Za-z0-9_]")


@dataclass(frozen=True)
class OllamaName:
    """A parsed Ollama model name; ``str()`` is the display form (``model:tag``)."""

    model: str
    tag: str = DEFAULT_TAG
    namespace: str = OLLAMA_DEFAULT_NAMESPACE
    host: str = OLLAMA_DEFAULT_HOST
    scheme: str | None = None
    digest: str | None = None

    @property
    def display(self) -> str:
        """``DisplayShortest``: no default host, no ``library/``, always the tag."""
        if self.host.lower() != OLLAMA_DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != OLLAMA_DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        """What two names are compared by (case-insensitive, defaults filled in)."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}".lower()

    def __str__(self) -> str:
        return self.display


def _bad(ref: str, message: str, hint: str | None = None) -> UsageError:
    return UsageError(f"invalid model name {ref!r}: {message}", hint)


def _check_ollama_part(ref: str, part: str, value: str) -> None:
    pattern, allowed, limit = _OLLAMA_PARTS[part]
    if value == "":
        raise _bad(ref, f"the {part} is empty")
    if len(value) > limit:
        raise _bad(ref, f"the {part} is {len(value)} characters long (at most {limit})")
    if not _FIRST_OK.fullmatch(value[0]):
        raise _bad(ref, f"the {part} {value!r} must start with {_FIRST}, not {value[0]!r}")
    rest = value[1:]
    if not pattern.fullmatch(rest):
        bad_char = next(c for c in rest if not pattern.fullmatch(c))
        raise _bad(ref, f"the {part} {value!r} contains {bad_char!r}; allowed: {allowed}")


def parse_ollama_name(ref: str) -> OllamaName:
    """Parse and validate an Ollama name (``ParseName`` then ``IsValid``)."""
    s = ref.strip()
    if not s:
        raise UsageError("the model name is empty", "Give a name such as llama3.2 or qwen2.5:7b.")
    if any(c.isspace() for c in s):
        raise _bad(ref, "it contains whitespace")
    digest: str | None = None
    if "@" in s:
        s, digest = s.rsplit("@", 1)
        _check_ollama_part(ref, "digest", digest)
    tag = DEFAULT_TAG
    if s.rfind(":") > s.rfind("/"):
        s, tag = s.rsplit(":", 1)
        _check_ollama_part(ref, "tag", tag)
    namespace, host, scheme = OLLAMA_DEFAULT_NAMESPACE, OLLAMA_DEFAULT_HOST, None
    if "/" in s:
        s, model = s.rsplit("/", 1)
        if "/" in s:
            host, namespace = s.rsplit("/", 1)
            if "://" in host:
                scheme, host = host.split("://", 1)
                if scheme.lower() not in ("http", "https"):
                    raise _bad(ref, f"the scheme {scheme!r} is not http or https")
            _check_ollama_part(ref, "host", host)
        else:
            namespace = s
        _check_ollama_part(ref, "namespace", namespace)
    else:
        model = s
    _check_ollama_part(ref, "model", model)
    return OllamaName(model=model, tag=tag, namespace=namespace, host=host, scheme=scheme,
                      digest=digest)


# --- Docker Model Runner ----------------------------------------------------------------------

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]+)?|\[[0-9A-Fa-f:]+\](?::[0-9]+)?"
)
_SHA = re.compile(r"(?:sha256:)?([0-9a-f]{64}|[0-9a-f]{12})")
# {parameters}-{quantization}: 360M-Q4_K_M, 0.6B-F16, 14B-Q6_K, 1B-Q8_0, 4B-IQ2_XXS
_PARAMS_QUANT = re.compile(r"(?P<params>[0-9]+(?:\.[0-9]+)?[KMBT])(?:-(?P<quant>[A-Za-z0-9_]+))?",
                           re.IGNORECASE)
DOCKER_HUB = "docker.io"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
HF_DOMAIN = "huggingface.co"
_HF_ALIASES = ("hf.co", "huggingface.co")
MAX_REPOSITORY = 255


@dataclass(frozen=True)
class DockerModelRef:
    """A parsed Model Runner reference. ``str()`` is the normalized ``ai/name:tag`` form."""

    repository: str  # lower-cased path without the registry: ai/smollm2, bartowski/x-gguf
    tag: str = DEFAULT_TAG
    registry: str | None = None  # None = Docker Hub; huggingface.co; or another registry
    digest: str | None = None  # sha256:<hex> for @digest references and bare ids

    @property
    def normalized(self) -> str:
        """The form Model Runner stores (``ai/smollm2:latest``)."""
        if self.digest and not self.repository:
            return self.digest
        prefix = f"{self.registry}/" if self.registry else ""
        at = f"@{self.digest}" if self.digest else ""
        return f"{prefix}{self.repository}:{self.tag}{at}"

    @property
    def display(self) -> str:
        """The CLI's display form: no ``ai/``, no ``:latest`` (``ai/gemma3:latest`` → gemma3)."""
        if self.digest and not self.repository:
            return self.digest
        name = self.repository
        if self.registry is None and name.startswith("ai/"):
            name = name[3:]
        if self.registry:
            name = f"{'hf.co' if self.registry == HF_DOMAIN else self.registry}/{name}"
        return name if self.tag == DEFAULT_TAG else f"{name}:{self.tag}"

    @property
    def key(self) -> str:
        return self.normalized

    @property
    def parameters(self) -> str | None:
        m = _PARAMS_QUANT.fullmatch(self.tag)
        return m.group("params") if m else None

    @property
    def quantization(self) -> str | None:
        m = _PARAMS_QUANT.fullmatch(self.tag)
        if m and m.group("quant"):
            return m.group("quant")
        if self.registry == HF_DOMAIN and self.tag != DEFAULT_TAG:
            return self.tag  # hf.co/org/repo:Q4_K_S
        return None

    def __str__(self) -> str:
        return self.normalized


def _split_domain(s: str) -> tuple[str | None, str]:
    """distribution/reference ``splitDockerDomain``: the first component is a registry when
    it has a ``.`` or ``:`` or is ``localhost`` (the input is already lower-cased)."""
    first, sep, rest = s.partition("/")
    if not sep:
        return None, s
    if "." in first or ":" in first or first == "localhost":
        return first, rest
    return None, s


def parse_model_runner_ref(ref: str) -> DockerModelRef:
    """Parse, normalize and validate a Model Runner reference (``normalizeModelName``)."""
    s = ref.strip()
    if not s:
        raise UsageError("the model reference is empty",
                         "Give a reference such as ai/smollm2 or ai/smollm2:360M-Q4_K_M.")
    if any(c.isspace() for c in s):
        raise _bad(ref, "it contains whitespace")
    sha = _SHA.fullmatch(s)
    if sha:
        return DockerModelRef(repository="", digest=f"sha256:{sha.group(1)}")
    digest: str | None = None
    if "@" in s:
        s, digest = s.split("@", 1)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise _bad(ref, f"the digest {digest!r} is not sha256:<64 hex digits>")
    tag = DEFAULT_TAG
    if s.rfind(":") > s.rfind("/"):
        s, tag = s.rsplit(":", 1)
        if tag == "":
            raise _bad(ref, "the tag after ':' is empty")
        if not _TAG.fullmatch(tag):
            if not re.fullmatch(r"[A-Za-z0-9_]", tag[0]):
                why = f"must start with {_FIRST}, not {tag[0]!r}"
            else:
                bad = next((c for c in tag if not re.fullmatch(r"[A-Za-z0-9_.-]", c)), None)
                why = (f"contains {bad!r}; allowed: letters, digits, '_', '.', '-'" if bad
                       else "is longer than 128 characters")
            raise _bad(ref, f"the tag {tag!r} {why}")
    registry, path = _split_domain(s.lower())  # the name part is lower-cased first
    if registry is not None:
        low = registry.lower()
        if low in _HF_ALIASES:
            registry = HF_DOMAIN
        elif low in _HUB_ALIASES:
            registry = None
        elif not _DOMAIN.fullmatch(registry):
            raise _bad(ref, f"the registry {registry!r} is not a valid host[:port]")
    if path == "":
        raise _bad(ref, "the repository name is empty")
    path = path.lower()
    if "/" not in path and registry is None:
        path = f"ai/{path}"
    for component in path.split("/"):
        if component == "":
            raise _bad(ref, "a path component is empty ('//' or a trailing '/')")
        if not _COMPONENT.fullmatch(component):
            raise _bad(
                ref,
                f"the name component {component!r} is not lower-case letters and digits "
                "joined by '.', '_', '__' or '-'",
            )
    full = f"{registry}/{path}" if registry else f"{DOCKER_HUB}/{path}"
    if len(full) > MAX_REPOSITORY:
        raise _bad(ref, f"the repository is {len(full)} characters long (at most "
                        f"{MAX_REPOSITORY})")
    return DockerModelRef(repository=path, tag=tag, registry=registry, digest=digest)


# --- routing ---------------------------------------------------------------------------------


def routes_to_model_runner(ref: str) -> bool:
    """True for ``ai/…``, ``docker.io/ai/…``, ``index.docker.io/ai/…`` and ``hf.co/…``."""
    low = ref.strip().lower()
    for prefix in ("ai/", "docker.io/ai/", "index.docker.io/ai/", "registry-1.docker.io/ai/",
                   "hf.co/", "huggingface.co/"):
        if low.startswith(prefix):
            return True
    return False


@dataclass(frozen=True)
class RoutedRef:
    """A validated reference and the backend it goes to."""

    backend: str  # "ollama" | "model-runner"
    raw: str  # what the user typed, trimmed
    name: str  # what is sent to the server (Ollama display form; Model Runner as given)
    key: str  # what names are compared by
    display: str  # short form for people
    parsed: OllamaName | DockerModelRef

    @property
    def canonical(self) -> str:
        """The stored form: ``tinyllama:latest`` (Ollama), ``ai/smollm2:latest`` (Runner)."""
        if isinstance(self.parsed, DockerModelRef):
            return self.parsed.normalized
        return self.display

    @property
    def parameters(self) -> str | None:
        return self.parsed.parameters if isinstance(self.parsed, DockerModelRef) else None

    @property
    def quantization(self) -> str | None:
        return self.parsed.quantization if isinstance(self.parsed, DockerModelRef) else None


def check_backend(backend: str | None) -> str | None:
    if backend is None or backend in BACKENDS:
        return backend
    raise UsageError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")


def route(ref: str, backend: str | None = None) -> RoutedRef:
    """Validate ``ref`` for its backend (``backend`` overrides the routing rules)."""
    check_backend(backend)
    chosen = backend or (MODEL_RUNNER if routes_to_model_runner(ref) else OLLAMA)
    raw = ref.strip()
    if chosen == MODEL_RUNNER:
        d = parse_model_runner_ref(ref)
        return RoutedRef(MODEL_RUNNER, raw, raw, d.key, d.display, d)
    o = parse_ollama_name(ref)
    sent = raw if o.scheme or o.digest else o.display
    return RoutedRef(OLLAMA, raw, sent, o.key, o.display, o)


def same_model(a: str, b: str, backend: str) -> bool:
    """Compare two names as the backend does (normalized; invalid names never match)."""
    try:
        if backend == MODEL_RUNNER:
            return parse_model_runner_ref(a).key == parse_model_runner_ref(b).key
        return parse_ollama_name(a).key == parse_ollama_name(b).key
    except UsageError:
        return a.strip() == b.strip()


def model_matches(wanted: str, have: str, server: str) -> bool:
    """Does a server's model name ``have`` stand for ``wanted``? ``server`` is a probe kind:
    Ollama and Model Runner names compare normalized (a bare Model Runner name means
    ``ai/NAME``); other servers report ids as given, compared case-insensitively."""
    if wanted == have:
        return True
    if server == "ollama":
        return same_model(wanted, have, OLLAMA)
    if server == "docker-model-runner":
        return same_model(wanted if "/" in wanted else f"ai/{wanted}", have, MODEL_RUNNER)
    return wanted.lower() == have.lower()
