"""`llmctl expose` / `unexpose` as a user sees them, without Docker (the daemon address refuses
connections): every check on the command line, and the confirmation to expose beyond
loopback, happen before the engine is contacted; errors are one line and a hint, or one
JSON document."""

from __future__ import annotations

import json

import pytest

from llmctl.cli.app import run
from tests.support import refused_daemon


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["--host", refused_daemon(), *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("args, says", [
    (["expose", "a/b"], "error: NAME 'a/b' is not a valid name"),
    (["expose", "ollama", "--tls", "acme"], "error: --tls 'acme' is not one of off, internal"),
    (["expose", "ollama", "--listen", "localhost:11443"],
     "error: --listen 'localhost:11443': 'localhost' is not an IP address"),
    (["expose", "ollama", "--listen", "127.0.0.1:0"],
     "error: --listen '127.0.0.1:0': '0' is not a TCP port (1 to 65535)"),
    (["expose", "ollama", "--proxy-image", "caddy"], "error: --proxy-image: 'caddy' has no tag"),
    (["expose", "ollama", "--timeout", "0"], "error: --timeout 0 must be more than 0 seconds"),
    (["unexpose", ""], "error: NAME is empty"),
])
def test_bad_input_is_a_usage_error_before_docker(capsys: pytest.CaptureFixture[str],
                                                  args: list[str], says: str) -> None:
    code, out, err = call(capsys, *args)
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith(says), err
    if "--timeout" not in args:  # (a duration is said the same way by every command)
        assert err.splitlines()[1].startswith("hint: ")


def test_beyond_loopback_needs_a_yes(capsys: pytest.CaptureFixture[str]) -> None:
    """stdin is not a terminal here: refused, with the risks said first (TLS off: the key
    travels in clear); with --yes it goes on to the engine (unreachable here: exit 4)."""
    code, out, err = call(capsys, "expose", "ollama", "--listen", "0.0.0.0:11443")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("warning: publishing the proxy on 0.0.0.0:11443 makes ollama "
                               "reachable from the network for anyone who has the key")
    assert lines[1].startswith("warning: --tls off: the key, every prompt and every answer "
                               "travel in clear text on the network")
    assert lines[2:] == ["error: --listen 0.0.0.0:11443: confirmation needed and stdin is "
                         "not a terminal", "hint: Add --yes to confirm."]
    code, out, err = call(capsys, "expose", "ollama", "--listen", "0.0.0.0", "--tls",
                          "internal", "--yes", "--json")
    assert code == 4
    doc = json.loads(out)
    assert doc["command"] == "expose" and doc["error"]["exit_code"] == 4
    assert "clear text" not in err  # TLS internal: only the exposure itself is said


def test_loopback_asks_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "expose", "ollama", "--json")
    assert code == 4 and "warning" not in err
    assert json.loads(out)["error"]["type"] == "EngineUnavailable"
