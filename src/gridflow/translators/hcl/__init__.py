"""HCL grids -> Plan: ``load_grid(paths, ...)`` returns a :class:`GridLoad`."""

from gridflow.translators.hcl.loader import GridLoad, load_grid

__all__ = ["GridLoad", "load_grid"]
