"""The fake server image (tests/fakes/Dockerfile) holds exactly the files its tag hashes, and
serves every kind from them with the image's own Python (Debian bookworm's python3).

The tag (tests/integration/infra.py: fake_image_tag) is what makes a cached image safe to
reuse: these tests fail when a file the image needs is not hashed (a stale image would be
reused) or the image lacks one the servers import.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.fakes.servers import KINDS
from tests.integration import infra

pytestmark = pytest.mark.docker

LIST_FILES = """
import hashlib, json, os
out = {}
for folder, _dirs, files in os.walk("/opt/llmfake"):
    for name in files:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            out[os.path.relpath(path, "/opt/llmfake")] = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(out))
"""

RUN_EVERY_KIND = """
import json, subprocess, sys
out = {}
for kind in sys.argv[1:]:
    p = subprocess.run([sys.executable, "-u", "/opt/llmfake/llmfake.py", "--kind", kind,
                        "--port", "0", "--exit-after", "1"], capture_output=True, text=True,
                       timeout=60)
    out[kind] = [p.returncode, p.stderr]
print(json.dumps(out))
"""

# The line each kind logs once it listens (as its real server does), in script mode.
LISTENING = {
    "ollama": 'msg="Listening on 0.0.0.0:',
    "model-runner": 'msg="Listening on ',
    "vllm": "Uvicorn running on http://0.0.0.0:",
    "llamacpp": "main: server is listening on http://0.0.0.0:",
    "tgi": "text_generation_router::server: Connected",
    "localai": "LocalAI API is listening!",
    "openai": "llmfake openai: listening on http://0.0.0.0:",
}


def run_python(client: Any, image: str, script: str, *args: str) -> str:
    """Run ``python3 -c script args`` in a fresh container of ``image``; its stdout."""
    container = client.containers.run(
        image, ["-c", script, *args], entrypoint=["python3"], detach=True,
        name=f"{infra.TEST_PREFIX}fake-image-{uuid.uuid4().hex[:8]}",
        labels={"io.llmctl.test": "1"})
    try:
        status = container.wait(timeout=120)
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
        assert status["StatusCode"] == 0, err
        return out
    finally:
        container.remove(force=True)


def test_the_image_holds_exactly_the_files_its_tag_hashes(docker_client, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    assert fake_image == infra.fake_image_tag()
    hashed = {p.relative_to(infra.FAKES).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in infra.fake_image_files()}
    # the Dockerfile and .dockerignore shape the image without being copied into it
    assert hashed.pop("Dockerfile") and hashed.pop(".dockerignore")
    in_image = json.loads(run_python(docker_client, fake_image, LIST_FILES))
    assert in_image == hashed
    assert {"llmfake.py", "servers/__init__.py", "servers/base.py"} <= set(in_image)


def test_the_image_serves_every_kind(docker_client, fake_image: str) -> None:  # type: ignore[no-untyped-def]
    assert set(LISTENING) == set(KINDS)
    ran = json.loads(run_python(docker_client, fake_image, RUN_EVERY_KIND, *KINDS))
    for kind in KINDS:
        code, stderr = ran[kind]
        assert "Traceback" not in stderr, (kind, stderr)
        assert LISTENING[kind] in stderr, (kind, stderr)
        # exit_after: the server was up until it died as told (exit code 3)
        assert code == 3 and "fatal: engine core initialization failed" in stderr, (kind, stderr)
