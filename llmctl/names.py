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
}
# An Ollama digest, as the server stores blobs: sha256 and 64 lower-case hex digits.
_OLLAMA_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
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
        if not _OLLAMA_DIGEST.fullmatch(digest):
            raise _bad(ref, f"the digest {digest!r} is not sha256: and 64 lower-case hex "
                            "digits", "Copy the digest whole from `ollama list` or the "
                            "registry, or drop the @... part.")
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


# --- text from the command line: instance and endpoint names, model ids per server ----------
#
# Each value is checked before anything is sent or written. Common to all: not empty, no
# whitespace, no control characters and no invisible format characters (bidi overrides such
# as U+202E, zero-width spaces), which would make a name look like another one on a terminal.
# Messages show the value with repr(), which escapes all of those.

INSTANCE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
ENDPOINT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Hugging Face repo ids (huggingface_hub validate_repo_id): [namespace/]name, each part
# letters, digits, '-', '_', '.', at most 96 characters, no '--' or '..', not starting or
# ending with '-' or '.'.
_HF_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")
# llama.cpp `-hf user/repo[:quant]`: the quantization tag (Q4_K_M, q8_0, UD-Q4_K_XL).
_QUANT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# LocalAI: a gallery model name, optionally gallery@name, optionally :variant.
_LOCALAI_NAME = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}@)?[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63})?"
)
# LocalAI installs models from these URL schemes (its model-URL docs); plain http and file://
# are refused: one downloads weights without TLS, the other reads the container's files.
LOCALAI_SCHEMES = ("https", "huggingface", "hf", "ollama", "oci", "github")
MAX_MODEL_ID = 256


def _hidden_char(value: str) -> str | None:
    """The first control, format (bidi, zero-width) or separator character, if any."""
    import unicodedata

    for c in value:
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return c
    return None


def check_text(value: str, what: str, example: str | None = None) -> str:
    """Not empty, no whitespace, no control or invisible characters; returns ``value``."""
    hint = f"Example: {what} {example}" if example else None
    if value == "" or value.strip() == "":
        raise UsageError(f"{what} is empty", hint)
    bad = _hidden_char(value)
    if bad is not None:
        raise UsageError(
            f"{what} {value!r} contains the control or invisible character "
            f"U+{ord(bad):04X}", "Type the name again by hand; pasted text can hide such "
            "characters.")
    if any(c.isspace() for c in value):
        raise UsageError(f"{what} {value!r} contains whitespace", hint)
    return value


def _no_url(value: str, what: str, hint: str) -> None:
    if "://" in value:
        raise UsageError(f"{what} {value!r} is a URL, not a model name", hint)


def _no_traversal(value: str, what: str, hint: str | None = None) -> None:
    parts = re.split(r"[/\\]", value)
    if ".." in parts:
        raise UsageError(f"{what} {value!r} contains '..' (a path outside its folder)", hint)


def validate_instance_name(value: str, what: str = "--name") -> str:
    """An llmctl instance (``--name``): it becomes a container name (``llmctl-NAME``), a
    label value and the prefix of its volumes' names."""
    check_text(value, what, "ollama-2")
    if not INSTANCE_RE.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a valid name",
            "Use lower-case letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (at most 63 characters).",
        )
    return value


def validate_endpoint_name(value: str, what: str = "--name") -> str:
    """The name of an entry in endpoints.yaml."""
    check_text(value, what, "local-ollama")
    if not ENDPOINT_NAME_RE.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a valid endpoint name",
            "Use letters, digits, '.', '_' or '-', starting with a letter or digit (at most "
            "63 characters).",
        )
    return value


def validate_model_id(value: str, what: str = "--model") -> str:
    """A model id an OpenAI-compatible server lists in /v1/models (any server: vLLM's
    served name, llama.cpp's alias or model path, LocalAI's model name). Servers accept
    almost any text, so only what is never a model id is refused: URLs, '..' path parts,
    option-like values and over-long ones."""
    check_text(value, what, "Qwen/Qwen3-0.6B")
    hint = "Give the id the server lists (`llmctl models --endpoint URL`)."
    _no_url(value, what, hint)
    _no_traversal(value, what, hint)
    if value.startswith("-"):
        raise UsageError(f"{what} {value!r} starts with '-'", hint)
    if len(value) > MAX_MODEL_ID:
        raise UsageError(f"{what} is {len(value)} characters long (at most {MAX_MODEL_ID})")
    return value


def validate_hf_repo_id(value: str, what: str = "--model", *, quant: bool = False,
                        namespace: bool = False) -> str:
    """A Hugging Face repo id (``org/name``), as vLLM and TGI download it; with ``quant``
    the ``:QUANT`` suffix llama.cpp's ``-hf`` takes; ``namespace`` makes ``org/`` required."""
    example = "ggml-org/SmolLM2-360M-Instruct-GGUF:Q4_K_M" if quant else "Qwen/Qwen3-0.6B"
    check_text(value, what, example)
    hint = (f"Use a Hugging Face repo id such as {example} (letters, digits, '-', '_', '.'; "
            "one '/' between owner and name).")
    _no_url(value, what, hint)
    _no_traversal(value, what, hint)
    repo, tag = value, None
    if quant and ":" in value:
        repo, tag = value.rsplit(":", 1)
        if not _QUANT.fullmatch(tag):
            raise UsageError(f"{what} {value!r}: the quantization {tag!r} is not a tag such "
                             "as Q4_K_M", hint)
    parts = repo.split("/")
    if len(parts) > 2 or (namespace and len(parts) != 2):
        raise UsageError(f"{what} {value!r} is not a Hugging Face repo id (owner/name)", hint)
    for part in parts:
        if not _HF_PART.fullmatch(part) or "--" in part or ".." in part:
            raise UsageError(f"{what} {value!r}: {part!r} is not a valid repo id part", hint)
    if repo.endswith((".git", ".ipynb")):
        raise UsageError(f"{what} {value!r} is not a Hugging Face repo id", hint)
    return value


def validate_localai_model(value: str, what: str = "--model") -> str:
    """LocalAI's startup models: a gallery name (``[gallery@]name[:variant]``) or a model
    URL with one of :data:`LOCALAI_SCHEMES`."""
    from urllib.parse import urlsplit

    check_text(value, what, "llama-3.2-1b-instruct:q4_k_m")
    hint = ("Use a LocalAI gallery name (llama-3.2-1b-instruct:q4_k_m) or a model URL "
            f"({', '.join(s + '://' for s in LOCALAI_SCHEMES)}).")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() not in LOCALAI_SCHEMES:
            raise UsageError(f"{what} {value!r}: LocalAI model URLs may not use "
                             f"{parts.scheme + '://'!r}", hint)
        if not (parts.netloc or parts.path.strip("/")):
            raise UsageError(f"{what} {value!r} names no model", hint)
        _no_traversal(parts.path, what, hint)
        if len(value) > 2048:
            raise UsageError(f"{what} is {len(value)} characters long (at most 2048)")
        return value
    if not _LOCALAI_NAME.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not a LocalAI model name", hint)
    return value


def validate_gguf_filename(name: str, what: str = "--model-file") -> str:
    """The file name of a GGUF model: mounted into the container and given to the server
    (and, without --model, its model id): no path parts, nothing hidden, no leading '-'."""
    check_text(name.replace(" ", "_"), what)  # a space in a file name is harmless
    if "/" in name or "\\" in name or name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not a file name")
    if name.startswith("-"):
        raise UsageError(f"{what} {name!r} starts with '-' (the server would read it as an "
                         "option)", "Rename the file.")
    return name


def validate_server_model(value: str, kind: str, what: str = "--model") -> str:
    """``value`` checked against the grammar of the server ``kind`` that receives it: a
    profile kind (vllm, tgi, llamacpp, localai, ollama, openai) or an endpoint's server
    (ollama, docker-model-runner, openai-compatible ...)."""
    if kind == "ollama":
        check_text(value, what, "llama3.2")
        parse_ollama_name(value)
    elif kind in ("docker-model-runner", MODEL_RUNNER):
        check_text(value, what, "ai/smollm2")
        parse_model_runner_ref(value)
    elif kind in ("vllm", "tgi"):
        validate_hf_repo_id(value, what)
    elif kind == "llamacpp":
        validate_hf_repo_id(value, what, quant=True, namespace=True)
    elif kind == "localai":
        validate_localai_model(value, what)
    else:
        validate_model_id(value, what)
    return value


def validate_endpoint_model(value: str, *, api: str | None, llm_type: str | None = None,
                            what: str = "--model") -> str:
    """A model name for an endpoint (``chat``, ``endpoint write``): Model Runner's grammar
    for a Model Runner, Ollama's for the Ollama API, else an OpenAI model id."""
    if llm_type == "docker-model-runner":
        return validate_server_model(value, MODEL_RUNNER, what)
    if api == "ollama":
        return validate_server_model(value, "ollama", what)
    return validate_model_id(value, what)
