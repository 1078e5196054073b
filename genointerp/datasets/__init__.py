"""Public data sets: manifests in ``data_manifests/``, fetched into a verified cache.

Files come from ``$GENOINTERP_DATA_MIRROR`` when it holds them (offline clusters,
CI) and from their public URLs otherwise, unless ``$GENOINTERP_OFFLINE`` is set.
Nothing is downloaded at import.
"""

from ._dataset import Dataset, load, motif_file
from ._fetch import cached_path, fetch_file, sha256_file, verify
from ._manifest import ContigSpec, FileSpec, Manifest, get_manifest, list_manifests, read_manifest

__all__ = [
    "ContigSpec",
    "Dataset",
    "FileSpec",
    "Manifest",
    "cached_path",
    "fetch_file",
    "get_manifest",
    "list_manifests",
    "load",
    "motif_file",
    "read_manifest",
    "sha256_file",
    "verify",
]
