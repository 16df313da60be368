"""Airflow hooks: Airflow connections → arguments for gridflow's runners.

A hook's ``get_conn()`` returns the *arguments* of a runner or resource (a
JSON-able dict), never a client: the runner owns its client and its pool.

- :class:`gridflow.hooks.http.GridHttpHook` reads the standard ``http``
  connection type (so existing connections work unchanged) and gives the
  ``http_client`` resource's arguments.
- :class:`gridflow.hooks.socketio.SocketIOHook` owns the ``socketio``
  connection type and gives the ``socketio`` runner's connection arguments.

Both submodules import Airflow; nothing else in gridflow may import them.
This ``__init__`` and :mod:`gridflow.hooks.arguments` stay Airflow-free so the
mapping rules can be read (and tested) without Airflow.
"""

from __future__ import annotations
