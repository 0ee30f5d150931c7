"""Image references in an export: every form takes them from :func:`image_ref`.

A pin map (image reference -> the same image by digest) replaces a reference there; the lock
feature (`llmctl export ... --pin-digests`) feeds it from a lock file. Without one the
reference is kept as the target gives it: always an explicit tag (profiles refuse a silent
``latest``).
"""

from __future__ import annotations

from collections.abc import Mapping

Pins = Mapping[str, str]

DOCKER_HUB = "docker.io"


def image_ref(ref: str, pins: Pins | None = None) -> str:
    """The reference an export writes for ``ref``: pinned when the map has it."""
    if pins:
        return pins.get(ref, ref)
    return ref


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag) for a chart's ``image.repository`` / ``image.tag``. A digest stays
    with the tag (``0.40.2@sha256:...``, or ``@sha256:...`` alone), which charts that write
    ``repository:tag`` turn back into the same reference."""
    name, at, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    else:
        repo, tag = name, ""
    if at:
        tag = f"{tag}@{digest}" if tag else f"@{digest}"
    return repo, tag


def repository(ref: str) -> str:
    """The repository without tag or digest, Docker Hub's ``docker.io/`` (and
    ``library/``) dropped: what tells an image family apart."""
    repo = split_ref(ref)[0]
    for prefix in (f"{DOCKER_HUB}/library/", f"{DOCKER_HUB}/", "index.docker.io/"):
        if repo.startswith(prefix):
            return repo[len(prefix):]
    return repo


def tag_of(ref: str) -> str:
    return split_ref(ref)[1]
