"""Add evidence columns to a written catalog: interventions, seed stability, labels.

``catalog.tsv`` and ``catalog.h5ad``'s ``obs`` get the new columns (features without a
value get NaN); each file is replaced atomically, so a killed job leaves the old catalog.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._atomic import atomic_path
from ..errors import GenointerpError


def add_evidence(folder: str | Path, columns: pd.DataFrame, *, update: bool = False) -> list[str]:
    """Merge ``columns`` (a ``feature`` column and the new ones) into the catalog in
    ``folder``.  Existing columns of the same names are replaced, or with ``update`` only
    the given features' values are (the others keep theirs: evidence gathered over several
    calls, one feature set at a time).  Returns the names added."""
    import anndata

    folder = Path(folder)
    tsv, h5ad = folder / "catalog.tsv", folder / "catalog.h5ad"
    if not tsv.is_file():
        raise GenointerpError(f"{folder}: no catalog.tsv. Fix: run 'genointerp rank' first")
    if "feature" not in columns:
        raise GenointerpError("evidence columns need a 'feature' column")
    names = [c for c in columns.columns if c != "feature"]
    new = columns.drop_duplicates("feature").set_index("feature")[names]
    table = pd.read_csv(tsv, sep="\t")
    old = table.set_index("feature")[[c for c in names if c in table]]
    table = table.drop(columns=[c for c in names if c in table])
    if update and len(old.columns):  # the given features' values over the old ones
        new = new.combine_first(old.loc[~old.index.isin(new.index)])[names]
    table = table.join(new, on="feature")
    with atomic_path(tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    if h5ad.is_file():
        adata = anndata.read_h5ad(h5ad)
        features = adata.obs["feature"].astype(int).to_numpy()
        for name in names:
            values = new[name].reindex(features)
            if values.dtype == object:  # text: anndata writes strings, not mixed objects
                values = values.fillna("").astype(str)
            adata.obs[name] = values.to_numpy()
        with atomic_path(h5ad, suffix=".h5ad") as tmp:
            adata.write_h5ad(tmp)
    return names


__all__ = ["add_evidence"]
