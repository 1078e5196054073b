"""Interventions on SAE features inside the model: does a feature matter to it?

Edits (ablate, clamp, push along a decoder direction) are spliced into the model at the SAE's
layer with the SAE's reconstruction error kept, so only what the edited features carry
changes; the ablation effect measures the loss rise at a concept's positions against
features of the same density.

>>> import genointerp as gi
>>> edit = gi.intervene.edit_function(sae, gi.intervene.ablate([1018]))  # doctest: +SKIP
>>> logits = model.splice(codes, "blocks.5", edit)  # doctest: +SKIP
"""

from ._ablate import (
    AblationResult,
    ablation_effect,
    control_groups,
    control_pool,
    next_base_bits,
)
from ._attribute import (
    Attribution,
    FeatureScore,
    attribute,
    attribution_row,
    one_hot,
    seqlet_motifs,
    site_windows,
)
from ._edit import FeatureEdit, ablate, add, clamp, edit_function, scaled
from ._steer import (
    MEASURES,
    SteeringResult,
    annotated,
    generate,
    measure,
    orf_lengths,
    period3,
    read_back,
    steer,
    word_rate,
)

__all__ = [
    "MEASURES",
    "AblationResult",
    "Attribution",
    "FeatureScore",
    "attribute",
    "attribution_row",
    "one_hot",
    "seqlet_motifs",
    "site_windows",
    "FeatureEdit",
    "SteeringResult",
    "ablate",
    "ablation_effect",
    "annotated",
    "add",
    "clamp",
    "control_groups",
    "control_pool",
    "edit_function",
    "generate",
    "measure",
    "orf_lengths",
    "period3",
    "next_base_bits",
    "read_back",
    "scaled",
    "steer",
    "word_rate",
]
