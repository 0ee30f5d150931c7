"""`llmctl lock`, `llmctl verify`, `--frozen`: the same images and the same model bytes on
every machine and in CI.

- ``model.py``: the lock file as data (servers, their image by digest, the options that
  shape the container, their models by manifest digest, the endpoints pointing at them);
  its text (sorted JSON, byte-stable) and its strict reading (every problem names the path
  and the key, exit 3).
- ``capture.py``: what runs now, read from the engine and from each server's models API:
  the lock `llmctl lock` writes.
- ``drift.py``: what runs now against a lock: `llmctl verify`'s list of differences.
- ``frozen.py``: `up --frozen` and `pull --frozen`: images by digest, Model Runner models by
  digest, Ollama models checked after the pull (Ollama cannot pull by digest); and the pin
  map `llmctl export --pin-digests` takes (:func:`~llmctl.lock.frozen.image_pins`).

Nothing here imports docker, typer or rich; the engine comes in as
:class:`~llmctl.engine.model.Engine`.
"""
