"""Docker Model Runner as a target: on Docker Desktop (a Desktop feature) or on Docker Engine
(a container). Its HTTP API is in llmctl.backends (model_runner, runner_status)."""
