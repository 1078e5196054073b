"""``genointerp view``: serve a run's genome browser and feature explorer on localhost."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    view = sub.add_parser(
        "view",
        help="open a run in the embedded genome browser (igv.js) and feature explorer",
        description="Write RUN_DIR/viewer/ (an igv.js page of the run's exported tracks and a "
        "table of its feature catalog), serve the run folder on localhost and print the "
        "address to open. Needs 'genointerp export' first. Serves until Ctrl-C.",
    )
    view.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    view.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes "
        "the run to the network)",
    )
    view.add_argument(
        "--port", type=int, default=0, help="port to listen on (default 0: any free port)"
    )
    view.add_argument(
        "--no-write",
        action="store_true",
        help="serve the viewer already in RUN_DIR/viewer/ instead of writing it again",
    )
    view.set_defaults(handler=_view)


def _view(args: argparse.Namespace) -> int:
    from .._rundir import RunDir
    from ..errors import GenointerpError
    from ..view import serve, write_viewer

    run = RunDir(args.run_dir)
    if not args.no_write:
        write_viewer(run)
    elif not (run.place("viewer") / "index.html").is_file():
        raise GenointerpError(
            f"{run.place('viewer')}: no viewer page to serve. Fix: run without --no-write"
        )
    server, url = serve(run.path, args.host, args.port)
    print(f"genointerp view: serving {run.path} at\n  {url}\nPress Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("genointerp view: stopped", flush=True)
    finally:
        server.server_close()
    return 0
