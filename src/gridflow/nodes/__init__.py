"""Where fleet work runs: the worker itself (``local``) or a node over SSH.

:mod:`gridflow.nodes.base` holds the small interface both transports
implement; backends (apt, systemd, ...) build commands and run them through
it without knowing which transport is underneath.
"""
