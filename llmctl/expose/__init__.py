"""`llmctl expose NAME`: an authenticating reverse proxy in front of a server llmctl runs.

- ``caddy.py``: the proxy's configuration (a Caddyfile), pure: who gets through (a bearer
  key), where to (the server on the ``llmctl`` network), unbuffered streaming, TLS.
- ``plan.py``: pure: the request checked (``--listen``, ``--tls``, ``--proxy-image``), the
  proxy's container spec, its labels, the names its certificate is for.
- ``proxy.py``: the actions on an engine: ``expose``, ``unexpose``, and the removal of a
  server's proxy that ``down`` asks for.
- ``status.py``: what `llmctl status` says about exposure (listen address, TLS, key age,
  whether each proxy authenticates).

The key is made here (``secrets.token_urlsafe(32)``) and goes to two places only: a 0600
file inside the proxy container (written through the engine API before the proxy starts:
never an environment variable, a label or an argument, which `docker inspect` and the
process list show) and the endpoint file entry (0600) that `llmctl chat`, ``llmctl.client``
and MCP clients read. See docs/expose.md.
"""
