"""A small but complete run folder, made by the real stages on a synthetic genome.

Two contigs of random sequence with a GFF3 of genes (CDS on both strands), tRNAs, an rRNA,
repeats and TSSs; a random built-in model; a random TopK SAE.  One SAE feature is made
"known" on purpose: the sites where it fires on '+' are annotated as TF binding sites, so
the alignment finds it, as a real run would find a feature that reads a motif.
Everything downstream (tracks, features, alignment, catalog, run.json) is what the
pipeline itself writes, in the layout of :mod:`genointerp._rundir`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import genointerp as gi
from genointerp._rundir import write_run_info
from tests.builders import random_sequence, random_tiny

LENGTHS = {"chrA": 12_000, "chrB": 6_000}
D_SAE = 32
LAYER = "blocks.1"
BLOCK = 1_500  # validation/test blocks of the alignment


def build_small_run(folder: str | Path) -> Path:
    """Write a run folder at ``folder`` and return it (about 10 s on one core)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sequences = {
        name: random_sequence(n, seed=i + 7) for i, (name, n) in enumerate(LENGTHS.items())
    }
    fasta = folder / "genome.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in sequences.items()))
    genome = gi.io.Genome.open(fasta)
    model = random_tiny(d_model=8, seed=3)
    store = gi.acts.extract(genome, model, [LAYER], folder / "activations.h5", progress=False)
    sae = _kmer_sae(store)
    provenance = gi.sae.Provenance(model_id=model.model_id, layer=LAYER, d_model=8)
    sae_dir = gi.sae.save_sae(sae, folder / "sae", provenance)
    probe = gi.features.encode(store, sae_dir, folder / "probe.features.h5")
    planted = _planted_feature(probe)
    sites = _runs_above(probe, planted, 0.5)
    probe.close()
    (folder / "probe.features.h5").unlink()
    gff = folder / "annotation.gff3"
    gff.write_text(_gff3(sites))
    annotations = gi.io.annotation_table(gff, genome)
    tracks = gi.concepts.build(genome, "prokaryote", annotations)
    tracks.write(folder / "concepts.h5")
    features = gi.features.encode(store, sae_dir, folder / "features.h5", tracks=tracks)
    split = gi.align.BlockSplit(block=BLOCK)
    result = gi.align.align(features, tracks, split=split, n_shifts=200, max_tests=5)
    result.write(folder / "alignment")
    catalog = gi.rank.rank(
        result, features, genome, tracks, decoder=sae.W_dec.detach().numpy(), progress=False
    )
    catalog.write(folder / "catalog")
    features.close()
    write_run_info(
        folder,
        dataset=None,
        genome=str(fasta),
        model_id=model.model_id,
        layer=LAYER,
        planted_feature=planted,
    )
    return folder


def _kmer_sae(store):
    """A ReLU SAE with random directions whose biases give densities from 0.5% to 10%:
    on a random model each feature then reads a few short words, like a motif detector."""
    torch.manual_seed(0)
    sae = gi.sae.build_sae(gi.sae.SAEConfig(architecture="relu", d_sae=D_SAE), 8)
    with gi.acts.ActivationStore(store) as acts:
        rows = torch.from_numpy(acts.read(LAYER, "chrA", "+", 0, LENGTHS["chrA"]).astype("float32"))
    with torch.no_grad():
        sae.b_enc.zero_()
        sae.W_enc_param /= ((rows - sae.b_dec) @ sae.W_enc).std(0)  # pre-activations of unit sd
        pre = (rows - sae.b_dec) @ sae.W_enc  # (positions, d_sae)
        keep = torch.linspace(0.90, 0.995, D_SAE)  # quantile each feature starts firing at
        sae.b_enc.copy_(-torch.stack([pre[:, f].quantile(keep[f]) for f in range(D_SAE)]))
    return sae


def _planted_feature(fa) -> int:
    """A feature active at 0.5-5% of positions (the one the GFF3 will annotate)."""
    density = fa.stats.table().set_index("feature")["density"]
    fitting = density[(density > 0.005) & (density < 0.05)]
    return int(fitting.index[0] if len(fitting) else density.sub(0.02).abs().idxmin())


def _runs_above(fa, feature: int, fraction: float) -> list[tuple[str, int, int]]:
    """Runs (contig, start, end) on '+' where ``feature`` >= fraction x its max."""
    values = {c: fa.dense(c, "+", features=[feature])[:, 0] for c in fa.contigs}
    cut = fraction * max(v.max() for v in values.values())
    runs = []
    for contig, v in values.items():
        on = np.concatenate([[0], (v >= cut).astype(np.int8), [0]])
        starts, ends = np.flatnonzero(np.diff(on) == 1), np.flatnonzero(np.diff(on) == -1)
        runs += [(contig, int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
    return runs


def _gff3(sites) -> str:
    """Genes on both strands, tRNAs, an rRNA, repeats, TSSs and the planted TF sites."""
    rows = []
    for contig, length in LENGTHS.items():
        for i, start in enumerate(range(200, length - 900, 1000)):
            strand = "+-"[i % 2]
            end = start + 870 - 3 * (i % 5) * 10
            gid = f"{contig}_g{i}"
            rows.append((contig, "gene", start, end, strand, f"ID={gid};Name={gid}"))
            rows.append((contig, "CDS", start, end, strand, f"ID=cds-{gid};Parent={gid}"))
            if i % 3 == 0:
                tss = start - 30 if strand == "+" else end + 30
                rows.append((contig, "TSS", tss, tss + 1, strand, f"ID=tss-{gid}"))
        for j, start in enumerate(range(850, length - 100, 2500)):
            rows.append((contig, "tRNA", start, start + 76, "+-"[j % 2], f"ID={contig}_t{j}"))
        rows.append((contig, "repeat_region", length - 80, length - 45, "+", f"ID={contig}_r"))
    rows.append(("chrA", "rRNA", 5_850, 5_970, "+", "ID=rrna5s;product=5S ribosomal RNA"))
    rows += [(c, "TF_binding_site", s, e, "+", f"ID=site{k}") for k, (c, s, e) in enumerate(sites)]
    lines = ["##gff-version 3"]
    lines += [f"##sequence-region {c} 1 {n}" for c, n in LENGTHS.items()]
    for contig, kind, start, end, strand, attributes in rows:
        phase = "0" if kind == "CDS" else "."
        lines.append(
            f"{contig}\ttest\t{kind}\t{start + 1}\t{end}\t.\t{strand}\t{phase}\t{attributes}"
        )
    return "\n".join(lines) + "\n"
