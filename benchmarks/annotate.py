"""Wall time and peak memory of each gi.annotate annotator on whole E. coli K-12, beside a peer.

Usage::

    GENOINTERP_DATA_MIRROR=/work/shared/data python benchmarks/annotate.py

Each case runs in its own process with a fresh cache, so it really runs and its peak memory
(``ru_maxrss`` of the process and of the programs it starts, whichever is larger) is its own.
TransTermHP's case reads Prodigal's genes from the cache (its time excludes Prodigal). Peers
are the tools' own command-line programs (Debian ``prodigal``, ``aragorn``, ``barrnap``) on
the same sequence; a missing peer is skipped with a message. Figures are printed, not asserted.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "prodigal (auto: tables 11 and 4)": ("prodigal", "auto"),
    "prodigal (table 11)": ("prodigal", 11),
    "aragorn": ("aragorn", 11),
    "barrnap": ("barrnap", 11),
    "transtermhp": ("transtermhp", 11),
    "pilercr": ("pilercr", 11),
}
PEERS = {  # the same tool's own program on the same FASTA, same settings where they exist
    "prodigal (table 11)": ["prodigal", "-i", "{fa}", "-f", "gff", "-o", "{out}", "-q"],
    "aragorn": ["aragorn", "-t", "-m", "-gc11", "-c", "-w", "-o", "{out}", "{fa}"],
    "barrnap": ["barrnap", "--kingdom", "bac", "--threads", "1", "--quiet", "{fa}"],
}


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def genome():
    from genointerp.datasets import load

    return load("ecoli_k12").genome()


def one_case(name: str, cache: Path) -> dict:
    from genointerp.annotate import annotate

    tool, table = CASES[name]
    g = genome()
    if tool == "transtermhp":
        annotate(g, ["prodigal"], cache_dir=cache)  # genes first, outside the timing
    start = time.perf_counter()
    rows = annotate(g, [tool], translation_table=table, cache_dir=cache)
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "rows": len(rows)}


def one_peer(name: str, folder: Path) -> dict:
    g = genome()
    fa = folder / "genome.fa"
    with open(fa, "w") as out:
        for contig in g.names:
            out.write(f">{contig}\n{g.fetch(contig)}\n")
    args = [a.format(fa=fa, out=folder / "peer.out") for a in PEERS[name]]
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": peak_mib()}


def child(kind: str, name: str, folder: Path) -> dict:
    args = [sys.executable, __file__, "--child", kind, name, str(folder)]
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        return {"error": (run.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    from genointerp.annotate import versions

    print("gi.annotate on E. coli K-12 MG1655 (4.64 Mb), one process per case")
    for tool, version in versions().items():
        print(f"  {tool}: {version or 'not installed'}")
    print(f"{'annotator':34} {'s':>7} {'peak MiB':>9} {'rows':>6}   {'peer s':>7} {'peer MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="annotate-bench-") as tmp:
        for name in CASES:
            ours = child("case", name, Path(tmp) / name.split()[0])
            if "error" in ours:
                print(f"{name:34} failed: {ours['error']}")
                continue
            line = f"{name:34} {ours['seconds']:7.1f} {ours['peak_mib']:9.0f} {ours['rows']:6}"
            peer = PEERS.get(name)
            if peer is None:
                why = "see table 11" if "auto" in name else "gi.annotate runs the tool's program"
                print(f"{line}   (no peer: {why})")
            elif shutil.which(peer[0]) is None:
                print(f"{line}   (peer {peer[0]} not installed: apt-get install {peer[0]})")
            else:
                folder = Path(tmp) / f"peer-{peer[0]}"
                folder.mkdir()
                theirs = child("peer", name, folder)
                if "error" in theirs:
                    print(f"{line}   peer failed: {theirs['error']}")
                else:
                    print(f"{line}   {theirs['seconds']:7.1f} {theirs['peak_mib']:9.0f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        kind, name, folder = sys.argv[2], sys.argv[3], Path(sys.argv[4])
        folder.mkdir(parents=True, exist_ok=True)
        result = one_case(name, folder) if kind == "case" else one_peer(name, folder)
        print(json.dumps(result))
    else:
        main()
