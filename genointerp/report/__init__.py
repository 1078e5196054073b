"""The HTML report of a run: one self-contained folder that opens from ``file://``.

>>> gi.report.write_report("genointerp_demo")        # doctest: +SKIP
PosixPath('genointerp_demo/report/index.html')

Names are imported on first use, so the command line reads the defaults in ``_options``
without loading pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {"ReportData": "_report", "collect": "_report", "write_report": "_report"}

if TYPE_CHECKING:  # for readers and type checkers; at run time names load on first use
    from ._report import ReportData, collect, write_report  # noqa: F401


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'genointerp.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = ["ReportData", "collect", "write_report"]
