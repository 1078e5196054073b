"""``genointerp data``: list, fetch and locate public data sets."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    data = sub.add_parser("data", help="list, fetch and locate public data sets (data_manifests/)")
    verbs = data.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="list the known data sets")
    listing.set_defaults(handler=_list)

    fetch = verbs.add_parser("fetch", help="fetch data sets into the cache and verify them")
    fetch.add_argument("names", nargs="*", help="data set names (see `data list`)")
    fetch.add_argument("--all", action="store_true", help="fetch every data set")
    fetch.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch.set_defaults(handler=_fetch)

    path = verbs.add_parser("path", help="print the local path of a data set's file")
    path.add_argument("name", help="data set name")
    path.add_argument("file", nargs="?", help="file name (default: the genome file)")
    path.set_defaults(handler=_path)


def _list(args: argparse.Namespace) -> int:
    from ..datasets import get_manifest, list_manifests

    for name in list_manifests():
        manifest = get_manifest(name)
        size = sum(c.length for c in manifest.contigs.values())
        extent = f"{size / 1e6:.2f} Mb" if size else f"{len(manifest.files)} files"
        print(f"{name:32s} {manifest.kind:10s} {extent:>10s}  {manifest.title}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from ..datasets import fetch_file, get_manifest, list_manifests

    names = list(list_manifests()) if args.all else args.names
    if not names:
        raise SystemExit("genointerp data fetch: name data sets or pass --all")
    for name in names:
        manifest = get_manifest(name)
        for spec in manifest.files:
            path = fetch_file(manifest, spec, force=args.force, progress=True)
            print(f"{name}/{spec.name}\t{path}")
    return 0


def _path(args: argparse.Namespace) -> int:
    from ..datasets import load

    print(load(args.name).path(args.file))
    return 0
