"""The HTML report of a run: one self-contained folder that opens from ``file://``.

>>> gi.report.write_report("genointerp_demo")        # doctest: +SKIP
PosixPath('genointerp_demo/report/index.html')
"""

from ._report import ReportData, collect, write_report

__all__ = ["ReportData", "collect", "write_report"]
