"""`llmctl export compose|kube|helm-values`: what llmctl runs here, handed to engines that
already scale (Compose on a server, Kubernetes, a maintained Helm chart).

- ``model.py``: the plain data every form shares: :class:`~llmctl.export.model.Service`
  (one container of an export: a target's :class:`~llmctl.targets.base.Workload` plus where
  it came from), the forms' own options, the result (files, next steps, notes).
- ``sources.py``: NAMEs to services, from the managed containers (their options label,
  checked against the spec hash) or from profiles and `up`'s options. The one place that
  reads the engine and the servers (the models they hold).
- ``images.py``: every image reference of every form goes through :func:`image_ref`, where
  a pin map (digests from a lock file) replaces it.
- ``health.py``: healthchecks and probes from the profile's readiness, and the commands each
  image family really has.
- ``compose.py``, ``kube.py`` (with ``kube_checks.py``), ``helm.py``: one form each, pure:
  services in, documents out.
- ``write.py``: deterministic YAML text and the files written (atomically, never over a
  file llmctl did not write).

A form renders whatever services it is given: a new kind of service (the authenticating
proxy of `llmctl expose`) is one more :class:`Service` with its own ``role``.
"""
