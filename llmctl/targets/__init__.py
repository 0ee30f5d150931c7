"""What llmctl runs, behind one interface.

- ``base.py``: the :class:`~llmctl.targets.base.Target` interface, its requests
  (``UpRequest``, ``DownRequest``), ``Events`` and ``Workload`` (what export and lock read).
- ``registry.py``: a target by name (``find``), ``down_command``, ``status`` of them all.
- ``container.py``: a container profile (the mechanics are in ``llmctl.lifecycle``).
- ``model_runner/``: Docker Model Runner, on Docker Desktop or as a container.

Nothing is imported here, so that importing one target never imports the others.
"""
