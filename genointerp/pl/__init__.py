"""Plots of a run, with matplotlib: every function takes ``ax=None`` (or ``fig=None``) and
returns the Axes (or the Figure of a multi-panel plot); nothing is shown or saved unless
asked (:func:`write_figures`, :func:`write_logos` write PNGs).

>>> import genointerp as gi
>>> fig = gi.pl.tracks("run/features.h5", "run/concepts.h5", "NC_000913.3:223000-235000",
...                    features=[17, 301])                                    # doctest: +SKIP
>>> ax = gi.pl.alignment_heatmap("run/alignment")                             # doctest: +SKIP
>>> figures = gi.pl.write_figures("run", "run/report/figures")                # doctest: +SKIP
"""

from ._align import CURVES, alignment_heatmap, sae_vs_baselines, threshold_curve
from ._attribution import attribution_logo
from ._browser import browser
from ._common import CLASS_COLORS
from ._evidence import (
    DISTANCE_BINS,
    DISTANCE_LABELS,
    codon_phase,
    distance_counts,
    element_distance,
    site_logo,
)
from ._feature_map import embed_features, feature_map
from ._geometry import geometry
from ._logo import LOGO_COLORS, logo, write_logos
from ._tracks import DEFAULT_LANES, parse_region, region_activations, tracks
from ._write import write_figures

__all__ = [
    "CLASS_COLORS",
    "CURVES",
    "DEFAULT_LANES",
    "DISTANCE_BINS",
    "DISTANCE_LABELS",
    "LOGO_COLORS",
    "alignment_heatmap",
    "attribution_logo",
    "browser",
    "codon_phase",
    "distance_counts",
    "element_distance",
    "embed_features",
    "feature_map",
    "geometry",
    "logo",
    "parse_region",
    "region_activations",
    "sae_vs_baselines",
    "site_logo",
    "threshold_curve",
    "tracks",
    "write_figures",
    "write_logos",
]
