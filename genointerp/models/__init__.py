"""DNA sequence models behind one protocol: the built-in model, Hugging Face models and Evo 2.

>>> import genointerp as gi
>>> model = gi.models.load_model("tiny")          # the weights that ship with genointerp
>>> model.layers[:3]
['embed', 'blocks.0', 'blocks.1']
>>> gi.models.random_tiny(seed=0).model_id    # same architecture, untrained: a control
'tiny:random-init-seed0'
"""

from ._base import (
    N_INDEX,
    Adapter,
    LayerError,
    ModelOutput,
    Tokens,
    as_codes,
    list_adapters,
    load_model,
    nucleotide_index,
    register_adapter,
    reverse_complement,
)
from ._evo2 import Evo2Adapter, load_evo2
from ._hf import HFAdapter, load_hf
from ._markov import MarkovModel, markov_bits, markov_counts
from ._tiny import (
    SHIPPED,
    TinyAdapter,
    TinyConfig,
    TinyDNA,
    grow,
    load_tiny,
    random_tiny,
    read_tiny,
    save_tiny,
)
from ._train import LMTrainConfig, bits_per_nt, train_lm

__all__ = [
    "Adapter",
    "Evo2Adapter",
    "HFAdapter",
    "LMTrainConfig",
    "LayerError",
    "N_INDEX",
    "MarkovModel",
    "ModelOutput",
    "TinyAdapter",
    "TinyConfig",
    "TinyDNA",
    "Tokens",
    "as_codes",
    "bits_per_nt",
    "list_adapters",
    "load_evo2",
    "load_hf",
    "load_model",
    "SHIPPED",
    "grow",
    "load_tiny",
    "markov_bits",
    "markov_counts",
    "nucleotide_index",
    "random_tiny",
    "read_tiny",
    "register_adapter",
    "reverse_complement",
    "save_tiny",
    "train_lm",
]
