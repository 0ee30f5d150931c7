"""Model references: Ollama's grammar (§1.11), Docker's reference rules (§2.2, §2.7), routing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmctl.errors import ExitCode, UsageError
from llmctl.names import (
    MODEL_RUNNER,
    OLLAMA,
    parse_model_runner_ref,
    parse_ollama_name,
    route,
    routes_to_model_runner,
    same_model,
)

# --- Ollama ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "display", "key"),
    [
        ("llama3.2", "llama3.2:latest", "registry.ollama.ai/library/llama3.2:latest"),
        ("qwen2.5:7b-instruct", "qwen2.5:7b-instruct",
         "registry.ollama.ai/library/qwen2.5:7b-instruct"),
        ("library/tinyllama", "tinyllama:latest", "registry.ollama.ai/library/tinyllama:latest"),
        ("registry.ollama.ai/library/Llama3:8B", "Llama3:8B",
         "registry.ollama.ai/library/llama3:8b"),
        ("jmorgan/smol", "jmorgan/smol:latest", "registry.ollama.ai/jmorgan/smol:latest"),
        ("myhost:5000/team/model:v1", "myhost:5000/team/model:v1", "myhost:5000/team/model:v1"),
        ("https://example.com/ns/m:t", "example.com/ns/m:t", "example.com/ns/m:t"),
        ("  smollm2:135m  ", "smollm2:135m", "registry.ollama.ai/library/smollm2:135m"),
    ],
)
def test_ollama_names_parse_to_display_and_key(ref: str, display: str, key: str) -> None:
    name = parse_ollama_name(ref)
    assert name.display == display
    assert name.key == key


def test_ollama_colon_before_last_slash_is_a_port_not_a_tag() -> None:
    name = parse_ollama_name("localhost:11434/ns/model")
    assert (name.host, name.namespace, name.model, name.tag) == (
        "localhost:11434", "ns", "model", "latest")


@pytest.mark.parametrize(
    ("ref", "part"),
    [
        ("n/m:", "the tag is empty"),
        ("mm:", "the tag is empty"),
        ("/m", "the namespace is empty"),
        ("ns/", "the model is empty"),
        ("-model", "the model '-model' must start with"),
        ("model:-x", "the tag '-x' must start with"),
        ("ns.dot/model", "the namespace 'ns.dot' contains '.'"),
        ("mo!del", "the model 'mo!del' contains '!'"),
        ("a/b/c/d", "the host 'a/b' contains '/'"),
        ("m" * 81, "the model is 81 characters long (at most 80)"),
        ("model:" + "t" * 81, "the tag is 81 characters long (at most 80)"),
        ("ftp://h/n/m", "the scheme 'ftp' is not http or https"),
        ("two words", "it contains whitespace"),
    ],
)
def test_bad_ollama_names_name_the_offending_part(ref: str, part: str) -> None:
    with pytest.raises(UsageError) as info:
        route(ref)
    assert part in info.value.message
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in info.value.message


def test_empty_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="empty"):
        route("   ")


# --- Model Runner ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "normalized", "display"),
    [
        ("ai/smollm2", "ai/smollm2:latest", "smollm2"),
        ("ai/smollm2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M", "smollm2:360M-Q4_K_M"),
        ("docker.io/ai/gemma3:latest", "ai/gemma3:latest", "gemma3"),
        ("index.docker.io/ai/gemma3", "ai/gemma3:latest", "gemma3"),
        ("AI/SmolLM2:360M-Q4_K_M", "ai/smollm2:360M-Q4_K_M", "smollm2:360M-Q4_K_M"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_S",
         "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_S",
         "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_S"),
    ],
)
def test_model_runner_refs_normalize(ref: str, normalized: str, display: str) -> None:
    parsed = parse_model_runner_ref(ref)
    assert parsed.normalized == normalized
    assert parsed.display == display


def test_bare_name_gets_ai_namespace_and_tag_keeps_case() -> None:
    parsed = parse_model_runner_ref("SmolLM2:360M-Q4_K_M")
    assert parsed.repository == "ai/smollm2"
    assert parsed.tag == "360M-Q4_K_M"


@pytest.mark.parametrize(
    ("tag", "params", "quant"),
    [("360M-Q4_K_M", "360M", "Q4_K_M"), ("0.6B-F16", "0.6B", "F16"), ("14B-Q6_K", "14B", "Q6_K"),
     ("latest", None, None)],
)
def test_params_quant_tag_form(tag: str, params: str | None, quant: str | None) -> None:
    ref = route(f"ai/qwen3:{tag}")
    assert (ref.parameters, ref.quantization) == (params, quant)


def test_hf_tag_is_the_quantization() -> None:
    assert route("hf.co/bartowski/x-GGUF:Q4_K_S").quantization == "Q4_K_S"


@pytest.mark.parametrize(
    ("ref", "part"),
    [
        ("ai/smol__-lm", "the name component 'smol__-lm'"),
        ("ai/-x", "the name component '-x'"),
        ("ai//x", "a path component is empty"),
        ("ai/x:", "the tag after ':' is empty"),
        ("ai/x:.v1", "the tag '.v1' must start with"),
        ("ai/x:v!1", "the tag 'v!1' contains '!'"),
        ("ai/x:" + "a" * 129, "longer than 128"),
        ("ai/" + "a" * 260, "at most 255"),
        ("ai/x@sha256:abc", "the digest 'sha256:abc'"),
    ],
)
def test_bad_model_runner_refs_name_the_part(ref: str, part: str) -> None:
    with pytest.raises(UsageError) as info:
        route(ref)
    assert part in info.value.message


def test_sha_ids_are_accepted_as_digests() -> None:
    hexid = "a" * 64
    assert parse_model_runner_ref(f"sha256:{hexid}").normalized == f"sha256:{hexid}"
    assert parse_model_runner_ref("abcdef012345").digest == "sha256:abcdef012345"


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "backend"),
    [
        ("ai/smollm2", MODEL_RUNNER),
        ("docker.io/ai/smollm2:360M-Q4_K_M", MODEL_RUNNER),
        ("hf.co/bartowski/x-GGUF", MODEL_RUNNER),
        ("huggingface.co/org/repo", MODEL_RUNNER),
        ("llama3.2", OLLAMA),
        ("qwen2.5:7b-instruct", OLLAMA),
        ("aii/x", OLLAMA),
        ("docker.io/library/x", OLLAMA),
        ("smollm2", OLLAMA),
    ],
)
def test_routing(ref: str, backend: str) -> None:
    assert route(ref).backend == backend


def test_backend_option_overrides_routing() -> None:
    assert route("ai/smollm2", OLLAMA).backend == OLLAMA
    assert route("smollm2", MODEL_RUNNER).canonical == "ai/smollm2:latest"


def test_unknown_backend_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--backend 'vllm' is not one of"):
        route("x", "vllm")


def test_same_model_compares_normalized_forms() -> None:
    assert same_model("docker.io/ai/x:latest", "ai/x", MODEL_RUNNER)
    assert same_model("Llama3.2", "library/llama3.2:latest", OLLAMA)
    assert not same_model("ai/x:1B-Q4_0", "ai/x", MODEL_RUNNER)


# --- properties ------------------------------------------------------------------------------

_alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
_part = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(list(_alnum + "_")),
    st.text(alphabet=_alnum + "ABC_.-", max_size=20),
)
_ns = st.builds(lambda first, rest: first + rest, st.sampled_from(list(_alnum)),
                st.text(alphabet=_alnum + "_-", max_size=10))


@given(model=_part, tag=_part, ns=_ns)
def test_valid_ollama_names_round_trip_through_display(model: str, tag: str, ns: str) -> None:
    name = parse_ollama_name(f"{ns}/{model}:{tag}")
    again = parse_ollama_name(name.display)
    assert again.key == name.key
    assert name.display.endswith(f":{tag}")


@given(model=_part)
def test_missing_tag_means_latest_and_case_is_ignored(model: str) -> None:
    assert parse_ollama_name(model).key == parse_ollama_name(model.upper() + ":latest").key


@given(st.text(max_size=40))
def test_any_string_either_parses_or_raises_usage_error(text: str) -> None:
    for backend in (OLLAMA, MODEL_RUNNER):
        try:
            ref = route(text, backend)
        except UsageError as exc:
            assert "\n" not in exc.message
        else:
            assert ref.backend == backend
            assert ref.key


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(name=_component, tag=_tag)
def test_runner_normalization_is_idempotent(name: str, tag: str) -> None:
    first = parse_model_runner_ref(f"docker.io/ai/{name}:{tag}")
    assert first.normalized == f"ai/{name}:{tag}"
    assert parse_model_runner_ref(first.normalized) == first
    assert routes_to_model_runner(first.normalized)


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_routing_never_crashes(text: str) -> None:
    assert isinstance(routes_to_model_runner(text), bool)


# --- digests, names and model ids from the command line ------------------------------------

from llmctl.names import (  # noqa: E402
    validate_endpoint_model,
    validate_endpoint_name,
    validate_gguf_filename,
    validate_hf_repo_id,
    validate_instance_name,
    validate_localai_model,
    validate_model_id,
    validate_server_model,
)

GOOD_DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_ollama_digest_is_sha256_and_64_lower_case_hex() -> None:
    assert parse_ollama_name(f"llama3@{GOOD_DIGEST}").digest == GOOD_DIGEST
    assert route(f"llama3@{GOOD_DIGEST}").name == f"llama3@{GOOD_DIGEST}"
    for bad in ("sha256:ZZZ", GOOD_DIGEST[:-1], GOOD_DIGEST.upper(), GOOD_DIGEST + "0",
                "sha512:" + "0" * 64, "0" * 64, ""):
        with pytest.raises(UsageError, match="is not sha256: and 64 lower-case hex"):
            parse_ollama_name(f"llama3@{bad}")


@pytest.mark.parametrize("value", ["", " ", "a/b", "A", "-x", "x" * 64, "../x", "a\x00b",
                                   "a\u202eb", "a b", "a\u200bb"])
def test_bad_instance_names(value: str) -> None:
    with pytest.raises(UsageError) as err:
        validate_instance_name(value)
    assert err.value.exit_code == ExitCode.USAGE
    assert "\u202e" not in err.value.message and "\x00" not in err.value.message


def test_instance_and_endpoint_names_accept_the_usual() -> None:
    for name in ("ollama", "t-1a2b", "my.server_2", "x" * 63):
        assert validate_instance_name(name) == name
    for name in ("Local-Ollama", "openai-compatible", "docker-model-runner"):
        assert validate_endpoint_name(name) == name
    with pytest.raises(UsageError, match="is empty"):
        validate_endpoint_name("")


@pytest.mark.parametrize(("value", "needle"), [
    ("Qwen/Qwen3-0.6B", None), ("gpt2", None), ("org/name.v2_x", None),
    ("a/b/c", "not a Hugging Face repo id"), ("org/-x", "not a valid repo id part"),
    ("org/x--y", "not a valid repo id part"), ("org/x..y", "not a valid repo id part"),
    ("../x", "contains '..'"), ("hf://org/x", "is a URL"), ("org/x.git", "not a Hugging"),
    ("o/" + "x" * 97, "not a valid repo id part"), ("org/\u202ex", r"U\+202E"),
])
def test_hugging_face_repo_ids(value: str, needle: str | None) -> None:
    if needle is None:
        assert validate_hf_repo_id(value) == value
        return
    with pytest.raises(UsageError, match=needle):
        validate_hf_repo_id(value)


def test_llamacpp_hf_takes_an_owner_and_an_optional_quant() -> None:
    assert validate_server_model("ggml-org/x-GGUF:Q4_K_M", "llamacpp")
    assert validate_server_model("ggml-org/x-GGUF", "llamacpp")
    with pytest.raises(UsageError, match="owner/name"):
        validate_server_model("x-GGUF", "llamacpp")
    with pytest.raises(UsageError, match="quantization"):
        validate_server_model("o/x:Q4;rm", "llamacpp")


@pytest.mark.parametrize(("value", "ok"), [
    ("llama-3.2-1b-instruct:q4_k_m", True), ("localai@phi-2", True),
    ("huggingface://TheBloke/x/x.gguf", True), ("oci://reg.example/m:1", True),
    ("https://example.com/m.yaml", True), ("ollama://gemma:2b", True),
    ("http://example.com/m.yaml", False), ("file:///etc/passwd", False),
    ("https://example.com/../../x", False), ("../x", False), ("a/b", False),
])
def test_localai_models(value: str, ok: bool) -> None:
    if ok:
        assert validate_localai_model(value) == value
    else:
        with pytest.raises(UsageError):
            validate_localai_model(value)


@pytest.mark.parametrize(("value", "ok"), [
    ("/models/x.gguf", True), ("Qwen/Qwen3-0.6B", True), ("gpt-4o", True),
    ("../../etc/passwd", False), ("a/../b", False), ("http://x/y", False), ("-x", False),
    ("m" * 257, False), ("a\tb", False), ("a\x7fb", False),
])
def test_openai_model_ids(value: str, ok: bool) -> None:
    if ok:
        assert validate_model_id(value) == value
    else:
        with pytest.raises(UsageError):
            validate_model_id(value)


def test_endpoint_model_follows_the_server() -> None:
    assert validate_endpoint_model("/models/x.gguf", api="openai")
    with pytest.raises(UsageError, match="invalid model name"):
        validate_endpoint_model("/models/x.gguf", api="ollama")
    assert validate_endpoint_model("ai/smollm2:360M-Q4_K_M", api="openai",
                                   llm_type="docker-model-runner")
    with pytest.raises(UsageError):
        validate_endpoint_model("ai/Bad__-x", api="openai", llm_type="docker-model-runner")


def test_gguf_file_names() -> None:
    assert validate_gguf_filename("SmolLM2 360M.Q4_K_M.gguf")  # a space is harmless
    for bad in ("-rf.gguf", "a\x1b[2J.gguf", "x\u202efgg.gguf", "a/b.gguf", ".."):
        with pytest.raises(UsageError):
            validate_gguf_filename(bad)
