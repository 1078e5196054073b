"""Terminators from TransTermHP and CRISPR arrays from PILER-CR (Debian programs)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from .. import names
from ..errors import GenointerpError
from ..io import Genome
from ._gff import Row
from ._tools import expterm, program

_TERM = re.compile(
    r"^\s+TERM\s+\d+\s+(\d+)\s+-\s+(\d+)\s+([+-])\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+\|"
)
_TRANSTERM_MIN_LENGTH = 75  # TransTermHP refuses shorter sequences; they are left out
_FAKE_GENES = 2  # TransTermHP needs 2 genes per sequence: fake 1-bp ones flank a gene-less contig


def _write_fasta(genome: Genome, folder: Path, min_length: int) -> dict[str, str]:
    """Contigs as ``c0, c1 ...`` (names the programs cannot mangle); ``{id: contig}``."""
    ids = {
        f"c{i}": name for i, name in enumerate(genome.names) if genome.lengths[name] >= min_length
    }
    with open(folder / "genome.fa", "w") as out:
        for i, name in ids.items():
            out.write(f">{i}\n{genome.fetch(name)}\n")
    return ids


def _run(args: list[str], tool: str, cwd: Path) -> str:
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise GenointerpError(f"{tool} failed (exit {run.returncode}): {last}")
    return run.stdout


def transterm_rows(genome: Genome, genes: pd.DataFrame, min_conf: int) -> list[Row]:
    """Intrinsic terminators with confidence >= ``min_conf``, given the CDS rows of ``genes``.

    A contig with fewer than 2 genes gets two fake 1-bp genes at its ends, as TransTermHP's
    manual advises for sequences without annotation. Contigs under 75 bp are left out.
    """
    binary, table = program("transterm", "transtermhp"), expterm()
    with tempfile.TemporaryDirectory(prefix="genointerp-transterm-") as tmp:
        folder = Path(tmp)
        ids = _write_fasta(genome, folder, _TRANSTERM_MIN_LENGTH)
        if not ids:
            return []
        cds = genes[genes[names.FEATURE] == "CDS"]
        with open(folder / "genes.coords", "w") as out:
            for i, contig in ids.items():
                mine = cds[cds[names.CHROM] == contig]
                for k, r in enumerate(mine.itertuples(index=False), start=1):
                    a, b = (r.Start + 1, r.End) if r.Strand == "+" else (r.End, r.Start + 1)
                    out.write(f"g{k} {a} {b} {i}\n")
                if len(mine) < _FAKE_GENES:
                    n = genome.lengths[contig]
                    out.write(f"fake1 1 2 {i}\nfake2 {n - 1} {n} {i}\n")
        args = [binary, "-p", str(table), f"--min-conf={min_conf}", "genome.fa", "genes.coords"]
        text = _run(args, "transterm", folder)
    return _parse_transterm(text, ids)


def _parse_transterm(text: str, ids: dict[str, str]) -> list[Row]:
    out, contig, counts = [], None, {}
    for line in text.splitlines():
        if line.startswith("SEQUENCE "):
            contig = ids[line.split()[1]]
            continue
        m = _TERM.match(line)
        if m is None or contig is None:
            continue
        a, b = int(m.group(1)), int(m.group(2))
        counts[contig] = counts.get(contig, 0) + 1
        attrs = {"region": m.group(4), "hairpin_score": m.group(6), "tail_score": m.group(7)}
        out.append(
            Row(
                contig,
                min(a, b) - 1,
                max(a, b),
                m.group(3),
                "terminator",
                f"transtermhp:{contig}:term{counts[contig]}",
                float(m.group(5)),
                attributes=attrs,
            )
        )
    return out


def pilercr_rows(genome: Genome) -> list[Row]:
    """CRISPR arrays with their direct repeats and spacers (PILER-CR's detail report).

    PILER-CR does not orient arrays, so rows are unstranded (``.``).
    """
    binary = program("pilercr", "pilercr")
    with tempfile.TemporaryDirectory(prefix="genointerp-pilercr-") as tmp:
        folder = Path(tmp)
        ids = _write_fasta(genome, folder, 1)
        if not ids:
            return []
        _run(
            [binary, "-in", "genome.fa", "-out", "report.txt", "-quiet", "-noinfo"],
            "pilercr",
            folder,
        )
        text = (folder / "report.txt").read_text()
    return _parse_pilercr(text, ids)


def _parse_pilercr(text: str, ids: dict[str, str]) -> list[Row]:
    detail = text.split("SUMMARY BY SIMILARITY")[0]
    out, counts = [], {}
    for block in re.split(r"^Array \d+\n", detail, flags=re.M)[1:]:
        lines = block.splitlines()
        contig = ids[lines[0].lstrip(">").split()[0]]
        copies, consensus = [], ""
        rules = 0
        for line in lines[1:]:
            if line.startswith("====="):
                rules += 1
                continue
            fields = line.split()
            if rules == 1 and fields and fields[0].isdigit():  # one repeat copy per line
                spacer = int(fields[3]) if fields[3].isdigit() else 0
                copies.append((int(fields[0]) - 1, int(fields[1]), spacer))
            elif rules == 2 and fields:
                consensus = fields[-1]
                break
        counts[contig] = counts.get(contig, 0) + 1
        out.extend(_crispr(contig, counts[contig], copies, consensus))
    return out


def _crispr(contig: str, n: int, copies: list[tuple[int, int, int]], consensus: str) -> list[Row]:
    array_id = f"pilercr:{contig}:CRISPR{n}"
    start, end = copies[0][0], copies[-1][0] + copies[-1][1]
    attrs = {"repeat_consensus": consensus, "repeats": str(len(copies))}
    rows = [Row(contig, start, end, ".", "CRISPR", array_id, name=f"CRISPR{n}", attributes=attrs)]
    for k, (at, repeat, spacer) in enumerate(copies, start=1):
        rows.append(
            Row(
                contig,
                at,
                at + repeat,
                ".",
                "direct_repeat",
                f"{array_id}:repeat{k}",
                parent=array_id,
            )
        )
        if spacer:
            rows.append(
                Row(
                    contig,
                    at + repeat,
                    at + repeat + spacer,
                    ".",
                    "CRISPR_spacer",
                    f"{array_id}:spacer{k}",
                    parent=array_id,
                )
            )
    return rows
