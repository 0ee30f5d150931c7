"""What reaches a person's terminal: text from outside is escaped, tables keep URLs whole.

Text from outside (a model name a server reports, a value in the endpoint file, an error a
server sends) must not drive the terminal: ESC, NUL, the other controls and the bidi
controls are shown as escapes in human output, while ``--json`` keeps the data.
Tables run on a real pseudo-terminal of 80, 100 and 110 columns (tests/terminal.py).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmctl.cli.app import run
from tests.terminal import run_on_terminal
from tests.unit.test_probe import fake

EVIL = "evil\x1b[2J\x1b]0;owned\x07\x00name\u202etxt.exe\u2066x\u2069\x9b1m"
DANGER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def _clean(text: str) -> None:
    """Nothing in ``text`` would act on a terminal."""
    assert not DANGER.search(text), repr(DANGER.search(text))


@pytest.fixture(autouse=True)
def _no_managed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmctl.cli.managed_targets.managed_targets", lambda: [])


def test_model_names_from_a_server_are_escaped_in_human_output_and_kept_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake("openai", model=EVIL) as url:
        assert run(["probe", url + "/v1"]) == 0
        human = capsys.readouterr()
        assert run(["probe", url + "/v1", "--json"]) == 0
        raw = capsys.readouterr().out
        assert run(["models", "--endpoint", url + "/v1"]) in (0, 1)
        models = capsys.readouterr()
    for text in (human.out, human.err, models.out, models.err):
        _clean(text)
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\x00name\\u202etxt.exe" in human.out
    # --json: the same data, with the bidi and C1 characters written as \uXXXX escapes
    _clean(raw)
    doc = json.loads(raw)
    assert doc["result"]["results"][0]["models"] == [EVIL]


def test_config_values_are_escaped_in_tables_and_messages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    path.write_text(  # YAML's own escapes: the file itself is plain ASCII
        'endpoints:\n  "a\\e[31mb":\n    api_type: ollama\n'
        '    endpoint: http://127.0.0.1:9\n    model: "m\\e]0;x\\a\\u202Eq"\n',
        encoding="utf-8")
    assert run(["endpoint", "list"]) == 0
    listed = capsys.readouterr()
    assert run(["endpoint", "show", "nope"]) == 7
    missing = capsys.readouterr()
    assert run(["endpoint", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for text in (listed.out, listed.err, missing.out, missing.err):
        _clean(text)
    assert "a\\x1b[31mb" in listed.out and "m\\x1b]0;x\\x07\\u202eq" in listed.out
    assert "a\\x1b[31mb" in missing.err  # "known: ..." names it, escaped
    assert doc["result"]["endpoints"][0]["model"] == "m\x1b]0;x\x07\u202eq"


class _FailingServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that lists model `m` and fails every completion with an
    error message holding terminal controls (what a hostile or broken server may send)."""

    def _send(self, code: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(500, {"error": {"message": EVIL, "type": "server_error"}})

    def log_message(self, *args: object) -> None:
        pass


def test_server_error_bodies_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        codes = [run(["chat", "hi", "--endpoint", url, "--model", "m", *extra])
                 for extra in ([], ["--no-stream"])]
    finally:
        server.shutdown()
        server.server_close()
    cap = capsys.readouterr()
    assert codes == [1, 1]
    _clean(cap.out)
    _clean(cap.err)
    assert cap.err.count("HTTP 500: evil\\x1b[2J\\x1b]0;owned\\x07\\x00name\\u202etxt") == 2


def test_document_output_is_exact_when_piped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`endpoint env` is read by `eval`: piped, it prints the value as it is."""
    path = tmp_path / "endpoints.yaml"
    monkeypatch.setenv("LLMCTL_ENDPOINTS_FILE", str(path))
    path.write_text('endpoints:\n  a:\n    api_type: ollama\n    endpoint: http://127.0.0.1:9\n'
                    '    model: "m\\u202Eq"\n', encoding="utf-8")
    assert run(["endpoint", "env"]) == 0
    assert "export LLM_MODEL='m\u202eq'" in capsys.readouterr().out


def test_document_output_is_escaped_on_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text('endpoints:\n  a:\n    api_type: ollama\n    endpoint: http://127.0.0.1:9\n'
                    '    model: "m\\e[2J\\u202Eq"\n', encoding="utf-8")
    res = run_on_terminal(["endpoint", "env"], cols=100,
                          env={"LLMCTL_ENDPOINTS_FILE": str(path)})
    assert res.code == 0, res.other
    _clean(res.tty)
    assert "export LLM_MODEL='m\\x1b[2J\\u202eq'" in res.tty


# --- tables on a terminal: URLs stay whole ---


@pytest.mark.parametrize("cols", [80, 100, 110])
def test_probe_table_keeps_every_url_whole(cols: int) -> None:
    with fake("model-runner", pulled="ai/smollm2:360M-Q4_K_M,ai/qwen3:0.6B-Q4_0") as runner, \
            fake("ollama", pulled="tinyllama,qwen2.5:0.5b") as ollama, \
            fake("vllm", model="HuggingFaceTB/SmolLM2-360M-Instruct") as vllm:
        targets = [runner + "/engines/v1", ollama, vllm + "/v1"]
        res = run_on_terminal(["probe", *targets], cols=cols)
    assert res.code == 0, res.other
    lines = res.tty.splitlines()
    table = lines[:lines.index("")]
    assert all(len(line) <= cols for line in table), "\n".join(table)
    text = "\n".join(table)
    for url in (runner, ollama, vllm, runner + "/engines/v1", vllm + "/v1"):
        assert re.search(re.escape(url) + r"(\s|$)", text), (url, text)
    # every row still says what it found
    for name in ("Docker Model Runner", "Ollama", "vLLM"):
        assert name in text or name.split()[0] in text


def test_probe_table_when_piped_is_one_line_per_row(capsys: pytest.CaptureFixture[str]) -> None:
    with fake("model-runner", pulled="ai/smollm2") as runner, fake("ollama") as ollama:
        assert run(["probe", runner + "/engines/v1", ollama]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["TARGET", "SERVER", "STATUS", "USE"]
    assert lines[1].startswith(runner) and f"{runner}/engines/v1" in lines[1]
    assert lines[2].startswith(ollama) and lines[3] == ""


def test_layout_on_narrow_terminals_moves_urls_to_their_own_line() -> None:
    from llmctl.cli.output import layout

    url = "http://127.0.0.1:12434/engines/v1"
    rows = [["http://127.0.0.1:12434", "Docker Model Runner", "ready", url, "v1.0.9",
             "ai/smollm2:360M-Q4_K_M", "4 ms"]]
    headers = ["TARGET", "SERVER", "STATUS", "USE", "VERSION", "MODELS", "LATENCY"]
    for width in range(40, 160, 7):
        lines = [ln.lstrip("\0") for ln in layout(headers, rows, width)]
        text = "\n".join(lines)
        assert url in text and re.search(r"http://127\.0\.0\.1:12434(\s|$)", text), (width, text)
        assert all(len(ln.rstrip()) <= width for ln in lines if "://" not in ln), (width, text)
