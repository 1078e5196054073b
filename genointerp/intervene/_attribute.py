"""Which bases drive a feature: attributions of its activation at its top sites, computed
with tangermeme (in-silico saturation mutagenesis, saliency, DeepLIFT/SHAP), seqlets called
from them with tangermeme's recursive seqlet caller, and each seqlet's bases compared with
known motifs by TOMTOM (:func:`genointerp.rank.compare`, memelite).

What is attributed is the feature's *pre-activation* (the SAE encoder's linear score,
before TopK or ReLU) at the site, a smooth function of the one-hot input that the
activation only thresholds; the window is the site and the ``window - 1`` nucleotides
before it on its strand (the built-in model is causal: nothing after the site moves it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._regions import true_runs
from ..errors import GenointerpError
from ..models import reverse_complement
from ..sae import SAE
from ._edit import check_spliceable

ONE_HOT = np.frombuffer(b"ACGT", dtype=np.uint8)


class FeatureScore(nn.Module):
    """The built-in network as a tangermeme model: one-hot ``(batch, 4, length)`` in, the
    SAE feature's pre-activation at the last position of ``layer`` out, ``(batch, 1)``.

    The one-hot input goes through the token embedding as a matrix product (the rows of
    A, C, G, T), so gradients reach every base; an all-zero column is an N.
    """

    def __init__(self, network, sae: SAE, layer: str, feature: int) -> None:
        super().__init__()
        self.network = network
        self.sae = sae
        self.layer = layer
        self.feature = int(feature)
        self.depth = network._depth(layer)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        net = self.network
        x = X.transpose(1, 2).to(net.embed.weight.dtype) @ net.embed.weight[:4]
        for block in net.blocks[: min(self.depth, len(net.blocks))]:
            x = block(x)
        if self.layer == "norm":
            x = net.norm(x)
        return self.sae.pre_acts(x[:, -1])[:, [self.feature]]


def one_hot(codes: np.ndarray) -> torch.Tensor:
    """``(batch, length)`` ASCII codes -> ``(batch, 4, length)`` float32 (N: all zero)."""
    codes = np.asarray(codes)
    upper = np.where((codes >= 97) & (codes <= 122), codes - 32, codes)
    return torch.from_numpy((upper[:, None, :] == ONE_HOT[None, :, None]).astype(np.float32))


def site_windows(genome, sites: pd.DataFrame, window: int) -> np.ndarray:
    """The ``window`` nucleotides ending at each site (``contig``, ``strand``, ``position``),
    read 5' to 3' on the site's strand, padded with N at a contig's start: ``(n, window)``."""
    out = np.full((len(sites), window), ord("N"), dtype=np.uint8)
    for i, (contig, strand, pos) in enumerate(
        sites[["contig", "strand", "position"]].itertuples(index=False)
    ):
        length = genome.lengths[contig]
        if strand == "+":
            lo, hi = max(0, pos - window + 1), pos + 1
            seq = np.asarray(genome.codes(contig, lo, hi))
        else:  # the window runs from pos upward on the genome, read as its reverse complement
            lo, hi = pos, min(length, pos + window)
            seq = reverse_complement(np.asarray(genome.codes(contig, lo, hi)))
        out[i, window - len(seq) :] = seq
    return out


@dataclass
class Attribution:
    """Attributions of one feature at its sites."""

    feature: int
    sites: pd.DataFrame
    """The sites attributed (``contig``, ``strand``, ``position``)."""
    codes: np.ndarray
    """``(n, window)`` ASCII codes, 5' to 3' on each site's strand, the site last."""
    scores: np.ndarray
    """``(n, 4, window)`` attributions (observed bases only unless hypothetical)."""
    method: str

    def per_base(self) -> np.ndarray:
        """``(n, window)``: each position's attribution summed over the four channels."""
        return self.scores.sum(1)

    def seqlets(self, threshold: float = 0.01, **kwargs) -> pd.DataFrame:
        """Positive seqlets from tangermeme's recursive caller, with their bases and the
        offset of their first base from the site (0: the site itself; negative: upstream)."""
        from tangermeme.seqlet import recursive_seqlets

        found = recursive_seqlets(torch.from_numpy(self.per_base()), threshold=threshold, **kwargs)
        if found.empty:
            return found.assign(sequence=[], offset=[])
        window = self.codes.shape[1]
        found["sequence"] = [
            self.codes[int(r.example_idx), int(r.start) : int(r.end)].tobytes().decode("ascii")
            for r in found.itertuples()
        ]
        found["offset"] = found["start"].astype(int) - (window - 1)
        return found.reset_index(drop=True)


def attribute(
    model,
    sae: SAE,
    layer: str,
    feature: int,
    genome,
    sites: pd.DataFrame,
    *,
    method: str = "saliency",
    window: int | None = None,
    mutate: int = 64,
    batch_size: int = 16,
) -> Attribution:
    """Attributions of ``feature``'s pre-activation at each site.

    Parameters
    ----------
    method
        ``saliency`` (gradient x input), ``deep_lift_shap`` or ``ism`` (every single-base
        substitution of the last ``mutate`` positions; slower, no gradients).
    window
        Nucleotides read before each site, site included (default: the model's reach,
        ``default_min_context + 1``).
    """
    check_spliceable(layer)
    network = getattr(model, "model", None)
    if model.name != "tiny" or not hasattr(network, "blocks"):
        raise GenointerpError(
            f"attribution runs the built-in network from one-hot input; {model.model_id!r} "
            "is not the built-in model. Fix: attribute features of a built-in model's SAE"
        )
    window = window or model.default_min_context + 1
    scorer = FeatureScore(network, sae, layer, feature).eval()
    codes = site_windows(genome, sites, window)
    X = one_hot(codes)
    if method == "saliency":
        from tangermeme.saliency import saliency

        scores = saliency(scorer, X, batch_size=batch_size, device="cpu")
    elif method == "deep_lift_shap":
        from tangermeme.deep_lift_shap import deep_lift_shap

        scores = deep_lift_shap(scorer, X, batch_size=batch_size, device="cpu", random_state=0)
    elif method == "ism":
        from tangermeme.saturation_mutagenesis import saturation_mutagenesis

        scores = saturation_mutagenesis(
            scorer,
            X,
            start=max(0, window - mutate),
            end=window,
            batch_size=batch_size,
            device="cpu",
        )
        full = torch.zeros_like(X)
        full[..., max(0, window - mutate) :] = scores
        scores = full
    else:
        raise GenointerpError(f"method must be saliency, deep_lift_shap or ism, got {method!r}")
    return Attribution(int(feature), sites.reset_index(drop=True), codes, scores.numpy(), method)


def seqlet_motifs(
    attribution: Attribution,
    motifs: Sequence,
    *,
    threshold: float = 0.01,
    min_sites: int = 5,
    trim: float = 0.25,
) -> pd.DataFrame:
    """Seqlets grouped by where they sit relative to the site, each group's core turned
    into a PWM and compared with ``motifs`` (:func:`genointerp.rank.compare`).

    A group is a stretch of the window covered by at least ``min_sites`` seqlets; its core
    is the part where the group's mean attribution is at least ``trim`` of its peak.  One
    row per group, best match first: ``offset`` (the core's first base, relative to the
    site: -15 is 15 nt upstream), ``length``, ``seqlets``, ``consensus`` and the closest
    motif (``match``, ``match_name``, ``p_value``, and ``q_value`` corrected over the motifs).
    """
    from ..rank import best_match

    seqlets = attribution.seqlets(threshold=threshold)
    columns = [
        "offset",
        "length",
        "seqlets",
        "consensus",
        "match",
        "match_name",
        "p_value",
        "q_value",
    ]
    if seqlets.empty:
        return pd.DataFrame(columns=columns)
    window = attribution.codes.shape[1]
    coverage = np.zeros(window + 1, dtype=np.int64)
    for row in seqlets.itertuples():
        coverage[int(row.start) : int(row.end)] += 1
    per_base = attribution.per_base()
    rows = []
    for lo, hi in true_runs(coverage >= min_sites):
        inside = seqlets[(seqlets["start"] < hi) & (seqlets["end"] > lo)]
        examples = inside["example_idx"].astype(int).unique()
        profile = per_base[examples, lo:hi].mean(0)
        keep = np.flatnonzero(profile >= trim * profile.max())
        start, end = lo + int(keep[0]), lo + int(keep[-1]) + 1
        counts = np.full((end - start, 4), 0.25)  # a pseudocount per base
        for base in range(4):
            counts[:, base] += (attribution.codes[examples, start:end] == ONE_HOT[base]).sum(0)
        pwm = counts / counts.sum(1, keepdims=True)
        best = best_match(pwm, motifs) if motifs else None
        rows.append(
            {
                "offset": start - (window - 1),
                "length": end - start,
                "seqlets": len(examples),
                "consensus": "".join("ACGT"[i] for i in pwm.argmax(1)),
                "match": None if best is None else best.get("id"),
                "match_name": None if best is None else best.get("name"),
                "p_value": np.nan if best is None else best.get("p_value"),
                "q_value": np.nan if best is None else best.get("q_value"),
            }
        )
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("p_value", na_position="last").reset_index(drop=True)


def attribution_row(feature: int, groups: pd.DataFrame, sites: int) -> dict:
    """The catalog's attribution columns for one feature: its main seqlet group (the one
    most sites share) with the group's consensus, offset from the site, share of the sites,
    and its closest motif."""
    if groups.empty:  # no seqlet group shared by enough sites: no core to report
        return {
            "feature": feature,
            "attribution_sites": sites,
            "attribution_core": None,
            "attribution_offset": float("nan"),
            "attribution_share": 0.0,
            "attribution_match": None,
            "attribution_q": float("nan"),
        }
    main = groups.sort_values(["seqlets", "length"], ascending=False).iloc[0]
    match = main["match"]
    return {
        "feature": feature,
        "attribution_sites": sites,
        "attribution_core": main["consensus"],
        "attribution_offset": int(main["offset"]),
        "attribution_share": main["seqlets"] / sites,
        "attribution_match": None if pd.isna(match) else f"{match} {main['match_name']}",
        "attribution_q": main["q_value"],
    }


__all__ = [
    "Attribution",
    "FeatureScore",
    "attribute",
    "attribution_row",
    "one_hot",
    "seqlet_motifs",
    "site_windows",
]
