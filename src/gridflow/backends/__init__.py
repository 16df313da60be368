"""Fleet backends: apt, systemd, rke2, ping, test and cmd actions on nodes.

:mod:`gridflow.backends.catalog` says which actions exist and what parameters
each takes (used by the job translator to validate before anything runs).
"""
