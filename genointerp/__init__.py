"""genointerp: interpret DNA foundation models with sparse autoencoders and genome annotations.

Use it namespaced, as in scanpy::

    import genointerp as gi
    genome = gi.datasets.load("ecoli_k12").genome()
    tracks = gi.concepts.build("ecoli_k12", "prokaryote")

Sub-packages follow the data flow: ``datasets`` -> ``io`` -> ``annotate`` -> ``concepts`` ->
``models`` -> ``acts`` -> ``sae`` -> ``features`` -> ``align`` -> ``rank`` ->
``intervene`` -> ``export`` / ``pl`` / ``view`` / ``report``.  They are imported on first use, so
``import genointerp`` stays fast and never touches the network.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = (
    "names",
    "errors",
    "io",
    "datasets",
    "annotate",
    "concepts",
    "models",
    "acts",
    "sae",
    "features",
    "align",
    "rank",
    "intervene",
    "export",
    "pl",
    "view",
    "report",
    "pipeline",
)

if TYPE_CHECKING:
    from . import (  # noqa: F401
        acts,
        align,
        annotate,
        concepts,
        datasets,
        errors,
        export,
        features,
        intervene,
        io,
        models,
        names,
        pipeline,
        pl,
        rank,
        report,
        sae,
        view,
    )


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'genointerp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])


__all__ = ["__version__", *_SUBMODULES]
