"""Images by digest: which registry digest belongs to a reference, and whether an image on
this daemon is the one a lock names. Pure: the engine's answer comes in as
:class:`~llmctl.engine.model.ImageDigests`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmctl.lock.model import LockedImage, normalize_digest

if TYPE_CHECKING:
    from llmctl.engine.model import ImageDigests

_HUB_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "registry-1.docker.io/library/",
                 "docker.io/", "index.docker.io/", "registry-1.docker.io/")


def repository(ref: str) -> str:
    """``ref`` without its digest and tag: ``ollama/ollama:0.40.2`` -> ``ollama/ollama``,
    ``127.0.0.1:5000/x/y@sha256:...`` -> ``127.0.0.1:5000/x/y``."""
    name = ref.split("@", 1)[0]
    head, sep, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}{sep}{last}"


def familiar(repo: str) -> str:
    """Docker Hub's long forms shortened as Docker shows them (``docker.io/library/x`` ->
    ``x``), for comparing repositories."""
    low = repo.lower()
    for prefix in _HUB_PREFIXES:
        if low.startswith(prefix):
            return repo[len(prefix):]
    return repo


def digest_in(found: ImageDigests, repo: str) -> str | None:
    """The manifest digest ``found`` has in repository ``repo`` (None: never pulled from or
    pushed to it)."""
    for item in found.repo_digests:
        name, _, digest = item.partition("@")
        if familiar(name) == familiar(repo):
            return normalize_digest(digest)
    return None


def locked_image(ref: str, found: ImageDigests) -> LockedImage:
    """What a lock records of the image ``ref`` names. Its own repository's digest when it
    has one; else another repository's (the same manifest, pulled or pushed under another
    name: the digest names the content, wherever it lives); else, built or loaded here,
    its ID only, marked local."""
    repo = repository(ref)
    digest = digest_in(found, repo)
    if digest is None and found.repo_digests:
        repo, _, other = sorted(found.repo_digests)[0].partition("@")
        digest = normalize_digest(other)
    image_id = normalize_digest(found.id) or found.id
    if digest is None:
        return LockedImage(ref=ref, id=image_id, local=True)
    return LockedImage(ref=ref, id=image_id, repository=familiar(repo), digest=digest)


def is_locked(image: LockedImage, found: ImageDigests | None) -> bool:
    """Is ``found`` (an image on this daemon) the one ``image`` pins? A registry image:
    it carries the locked digest in the locked repository (image IDs differ between CPU
    architectures of one multi-platform manifest, so they are not compared). A local image:
    the same image ID."""
    if found is None:
        return False
    if image.local or not image.repository:
        return (normalize_digest(found.id) or found.id) == image.id
    return digest_in(found, image.repository) == image.digest


def describe(found: ImageDigests | None, repo: str | None) -> str:
    """The image found, for a drift line: its digest in ``repo``, else its ID."""
    if found is None:
        return "no image"
    digest = digest_in(found, repo) if repo else None
    if digest:
        return digest
    if found.repo_digests:
        return sorted(found.repo_digests)[0]
    return f"image ID {normalize_digest(found.id) or found.id} (no registry digest)"
