"""Adapter for Hugging Face ``transformers`` DNA models (causal and masked language models).

Tokenisers that group nucleotides are mapped back to nucleotides here: every
nucleotide gets the activation (and the logits) of the token that covers it.
With a fast tokenizer the covering token comes from its offset mapping; otherwise
the token strings are spelled out again (special tokens cover nothing, a WordPiece
``##`` or SentencePiece ``▁`` prefix is dropped) and must spell the input.

Nucleotide Transformer's ``EsmTokenizer`` has a vocabulary of all 4096 6-mers plus
single nucleotides: ``ACGTACGTACGTAC`` becomes ``<cls> ACGTAC GTACGT A C <eos>``,
so nucleotides 0-5 take token 1, 6-11 token 2, 12 token 3 and 13 token 4.
"""

from __future__ import annotations

import inspect
import logging
import pickle
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._weights import REFUSED
from ..errors import GenointerpError, UnsafeCheckpointError
from ._base import (
    Adapter,
    ModelOutput,
    Tokens,
    normalise_codes,
    register_adapter,
    resolve_device,
    resolve_dtype,
    string_codes,
)

logger = logging.getLogger(__name__)

# Architectures whose position ids start at pad_token_id + 1, so they take fewer tokens
# than max_position_embeddings.
_PADDING_OFFSET_MODEL_TYPES = frozenset({"esm", "roberta", "xlm-roberta", "camembert"})
# Tokenizers report "no limit" as a huge model_max_length.
_NO_LIMIT = 10**9


def _import_transformers():
    try:
        import transformers
    except ImportError as err:
        raise GenointerpError(
            'the "hf" model adapter needs the transformers package, which is not installed. '
            'Fix: pip install "genointerp[hf]"'
        ) from err
    return transformers


def _config_int(config, *keys: str) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _piece_text(piece: str) -> str:
    """The nucleotides a token string spells, without WordPiece/SentencePiece markers."""
    return piece.removeprefix("##").replace("\u2581", "").upper()


def _align_pieces(
    seq: str, ids: Sequence[int], pieces: Sequence[str], special: set[int], unk: int | None
) -> np.ndarray | None:
    """Token index covering each nucleotide, from the token strings; None if they do not fit.

    Special tokens cover nothing; an unknown token covers the gap up to the next token
    that spells something (at least one nucleotide).
    """
    token_of = np.full(len(seq), -1, dtype=np.int64)
    cursor, pending = 0, None  # pending: an unknown token whose extent is not known yet
    for j, (token_id, piece) in enumerate(zip(ids, pieces, strict=True)):
        if token_id == unk:
            if pending is not None:
                return None  # two unknown tokens in a row: their boundary is ambiguous
            pending = j
            continue
        text = "" if token_id in special else _piece_text(piece)
        if not text:
            continue
        if pending is not None:
            start = seq.find(text, cursor + 1)
            if start < 0:
                return None
            token_of[cursor:start], cursor, pending = pending, start, None
        if seq[cursor : cursor + len(text)] != text:
            return None
        token_of[cursor : cursor + len(text)] = j
        cursor += len(text)
    if pending is not None and cursor < len(seq):
        token_of[cursor:], cursor = pending, len(seq)
    return token_of if cursor == len(seq) else None


def _align_offsets(n: int, offsets: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """Token index covering each nucleotide, from a fast tokenizer's offset mapping."""
    token_of = np.full(n, -1, dtype=np.int64)
    for j, (start, end) in enumerate(offsets):
        if end > start:
            token_of[start:end] = j
    return token_of if (token_of >= 0).all() else None


def _is_causal(transformers, config, source: str) -> bool:
    """Causal or masked LM, from the architectures, the remote-code map, then the config class."""
    for arch in getattr(config, "architectures", None) or []:
        if arch.endswith("ForMaskedLM"):
            return False
        if arch.endswith(("ForCausalLM", "LMHeadModel")):
            return True
    auto_map = getattr(config, "auto_map", None) or {}
    if "AutoModelForCausalLM" in auto_map:
        return True
    if "AutoModelForMaskedLM" in auto_map:
        return False
    if getattr(config, "is_decoder", False):
        return True
    if type(config) in transformers.MODEL_FOR_CAUSAL_LM_MAPPING:
        return True
    if type(config) in transformers.MODEL_FOR_MASKED_LM_MAPPING:
        return False
    raise GenointerpError(
        f"Hugging Face model {source!r} is neither a causal nor a masked language model "
        f"(architectures {getattr(config, 'architectures', None)}). Fix: use a checkpoint "
        "with a *ForCausalLM or *ForMaskedLM head"
    )


def _source(path: str | Path | None, allow_download: bool) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a local directory)."""
    if path is None:
        raise GenointerpError(
            "the hf adapter needs a model: a local directory or a hub id. "
            "Fix: load_model('hf', '/path/to/model') or a hub id with allow_download=True"
        )
    if Path(path).expanduser().is_dir():
        return str(Path(path).expanduser().resolve()), True
    if not allow_download:
        raise GenointerpError(
            f"{str(path)!r} is not a local directory, and loading it from the Hugging Face hub "
            "would download it. Fix: pass allow_download=True (--allow-download on the command "
            "line) to fetch a hub id, or give the path of a saved model directory"
        )
    return str(path), False


def _load_parts(transformers, source: str, dtype: torch.dtype, options: dict):
    """Config, tokenizer and model; transformers' errors turned into ones that say what to do."""
    try:
        config = transformers.AutoConfig.from_pretrained(source, **options)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **options)
        causal = _is_causal(transformers, config, source)
        auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModelForMaskedLM
        model = auto.from_pretrained(
            source, config=config, dtype=dtype, weights_only=True, **options
        )
    except pickle.UnpicklingError:  # a pytorch_model.bin holding objects besides tensors
        raise UnsafeCheckpointError(
            source, REFUSED, "use the model's safetensors weights (model.safetensors)"
        ) from None
    except (ValueError, OSError) as err:
        if isinstance(err, ValueError) and "trust_remote_code" in str(err):
            raise GenointerpError(
                f"Hugging Face model {source!r} ships its own Python code, which runs only when "
                "you allow it. Fix: read the code, then pass trust_remote_code=True"
            ) from err
        problem = " ".join(str(err).split())  # transformers' messages span lines
        raise GenointerpError(
            f"cannot load Hugging Face model {source!r}: {problem} Fix: give a directory "
            "written by save_pretrained (config.json, weights, tokenizer files) or a hub id"
        ) from err
    return config, tokenizer, model, causal


@register_adapter("hf")
def load_hf(
    path: str | Path | None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    allow_download: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> HFAdapter:
    """Load a ``transformers`` causal or masked DNA language model.

    Parameters
    ----------
    path
        A local directory written by ``save_pretrained`` or, with ``allow_download=True``,
        a hub id such as ``"InstaDeepAI/nucleotide-transformer-v2-50m-multi-species"``.
    device, dtype
        Where and in what precision to run; default CUDA + bfloat16 when available, else
        CPU + float32.
    allow_download
        Allow fetching from the Hugging Face hub; without it nothing touches the network.
    trust_remote_code
        Run Python code shipped with the checkpoint (needed by e.g. DNABERT-2 and
        Nucleotide Transformer v2). Off unless asked.
    revision
        Hub branch, tag or commit to load.

    Examples
    --------
    >>> import genointerp as gi
    >>> model = gi.models.load_model("hf", "models/nt-50m")  # doctest: +SKIP
    >>> model.run("ACGTACGTACGTAC", layers=["esm.encoder.layer.0"])  # doctest: +SKIP
    """
    transformers = _import_transformers()
    source, local = _source(path, allow_download)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    options = {
        "local_files_only": not allow_download,
        "trust_remote_code": bool(trust_remote_code),
        "revision": revision,
    }
    config, tokenizer, model, causal = _load_parts(transformers, source, dtype, options)
    model.to(device).eval()
    commit = getattr(config, "_commit_hash", None) or (None if local else revision)
    model_id = f"hf:{source}" + (f"@{commit}" if commit else "")
    _check_tokenizer(tokenizer, source)
    adapter = HFAdapter(model, tokenizer, model_id=model_id, causal=causal, dtype=dtype)
    adapter.tokenize("ACGTNACGTACGTA")  # fail now, not mid-run, if tokens cannot be mapped back
    logger.debug(
        "loaded %s: %s LM, d_model %d, context %d nt, layers %s",
        model_id,
        "causal" if causal else "masked",
        adapter.d_model,
        adapter.context_length,
        adapter.layers,
    )
    return adapter


def _check_tokenizer(tokenizer, source: str) -> None:
    """transformers builds an empty tokenizer when the files are missing; refuse it."""
    probe = tokenizer("ACGTACGTAC", add_special_tokens=False)["input_ids"]
    if not probe or set(probe) == {tokenizer.unk_token_id}:
        raise GenointerpError(
            f"the tokenizer of Hugging Face model {source!r} ({type(tokenizer).__name__}) has "
            f"no tokens for DNA ('ACGTACGTAC' -> {probe}); the directory may lack its tokenizer "
            "files. Fix: save the model's tokenizer beside it (tokenizer.save_pretrained)"
        )


class HFAdapter(Adapter):
    """A ``transformers`` model with its tokenizer, speaking nucleotides.

    ``layers`` lists the model's layers in depth order: its embedding module, the blocks
    of its main layer list (:attr:`blocks`), then its final norm; any other module path of
    ``model.named_modules()`` whose output is ``(batch, tokens, d)`` is accepted too.

    ``context_length`` is ``(max_tokens - special_tokens) * k``: ``max_tokens`` is the
    smaller of the config's position limit (less ``pad_token_id + 1`` for ESM/RoBERTa,
    whose position ids start there) and the tokenizer's ``model_max_length``;
    ``special_tokens`` is what the tokenizer adds to one sequence; ``k`` is the k-mer
    size when the nucleotide tokens are all 4**k k-mers, plus single nucleotides (6 for
    Nucleotide Transformer), and 1 otherwise (character and BPE vocabularies). Runs of N
    break k-mers into more tokens, so forward refuses a window that tokenises to more
    than ``max_tokens``. 0 means neither config nor tokenizer gives a limit.
    """

    name = "hf"

    def __init__(
        self, model: nn.Module, tokenizer, *, model_id: str, causal: bool, dtype: torch.dtype
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.causal = causal
        self._dtype = dtype
        config = model.config
        self.d_model = _config_int(config, "hidden_size", "n_embd", "d_model") or 0
        self._named_modules = {name: module for name, module in model.named_modules() if name}
        self._layers, self._blocks = self._find_layers(config)
        self._max_tokens = self._find_max_tokens(config)
        n_special = tokenizer.num_special_tokens_to_add(pair=False)
        k = self._kmer_size()
        self.context_length = max(self._max_tokens - n_special, 0) * k if self._max_tokens else 0
        self._special = set(tokenizer.all_special_ids)
        self._pad_id = next(
            (i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0
        )
        params = inspect.signature(model.forward).parameters
        self._takes_mask = "attention_mask" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )

    # -- description ----------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        return list(self._layers)

    @property
    def blocks(self) -> list[str]:
        """The entries of the model's main layer list, e.g. ``transformer.h.0`` ..."""
        return list(self._blocks)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _find_layers(self, config) -> tuple[list[str], list[str]]:
        """Layers in depth order (embedding, blocks of the main ModuleList, final norm) and
        the blocks among them."""
        n_layers = _config_int(config, "num_hidden_layers", "n_layer", "num_layers")
        lists = [
            (name, module)
            for name, module in self._named_modules.items()
            if isinstance(module, nn.ModuleList) and len(module) > 0
        ]
        if not lists:
            return [], []
        matching = [item for item in lists if len(item[1]) == n_layers]
        list_name, modules = matching[0] if matching else max(lists, key=lambda item: len(item[1]))
        blocks = [f"{list_name}.{i}" for i in range(len(modules))]
        parent = list_name.rpartition(".")[0]
        prefix = f"{parent}." if parent else ""
        norms, after = [], False  # final norms come after the layer list in their parent
        for child, module in self.model.get_submodule(parent).named_children():
            after = after or prefix + child == list_name
            if after and "Norm" in type(module).__name__:
                norms.append(prefix + child)
        return [*self._embedding_name(), *blocks, *norms], blocks

    def _embedding_name(self) -> list[str]:
        try:
            embedding = self.model.get_input_embeddings()
        except (AttributeError, NotImplementedError):
            return []
        name = next((n for n, m in self._named_modules.items() if m is embedding), None)
        if name is None:
            return []
        parent = name.rpartition(".")[0]
        if parent and type(self._named_modules[parent]).__name__.endswith("Embeddings"):
            return [parent]  # the module that adds positions (and norms), e.g. esm.embeddings
        return [name]

    def _find_max_tokens(self, config) -> int:
        positions = _config_int(
            config, "max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "max_seqlen"
        )
        offset = (
            getattr(config, "model_type", "") in _PADDING_OFFSET_MODEL_TYPES
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
        )
        if positions is not None and offset:
            positions -= (getattr(config, "pad_token_id", None) or 0) + 1
        limits = [positions, getattr(self.tokenizer, "model_max_length", None)]
        limits = [n for n in limits if isinstance(n, int) and 0 < n < _NO_LIMIT]
        return min(limits) if limits else 0

    def _kmer_size(self) -> int:
        """k when the nucleotide tokens are all 4**k k-mers (plus single nucleotides), else 1."""
        lengths: dict[int, set[str]] = {}
        for piece in self.tokenizer.get_vocab():
            text = _piece_text(piece)
            if text and set(text) <= set("ACGT"):
                lengths.setdefault(len(text), set()).add(text)
        longer = [n for n in lengths if n > 1]
        if len(longer) == 1 and len(lengths[longer[0]]) == 4 ** longer[0]:
            return longer[0]
        return 1

    def accepts_layer(self, layer: str) -> bool:
        """Any module path of the model, not only the blocks :attr:`layers` lists."""
        return layer in self._named_modules

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, seq: str) -> Tokens:
        """Tokenise ``seq`` (upper-cased; anything but A/C/G/T read as N).

        Examples
        --------
        >>> tokens = model.tokenize("ACGTACGTACGTAC")  # doctest: +SKIP
        >>> tokens.token_of  # a 6-mer tokenizer after <cls>  # doctest: +SKIP
        array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 4])
        """
        seq = string_codes(seq).tobytes().decode("ascii")
        fast = bool(getattr(self.tokenizer, "is_fast", False))
        encoded = self.tokenizer(seq, return_offsets_mapping=fast)
        ids = list(encoded["input_ids"])
        if fast:
            token_of = _align_offsets(len(seq), encoded["offset_mapping"])
        else:
            pieces = self.tokenizer.convert_ids_to_tokens(ids)
            unk = self.tokenizer.unk_token_id
            token_of = _align_pieces(seq, ids, pieces, self._special, unk)
        if token_of is None:
            raise GenointerpError(
                f"cannot map the tokens of model {self.model_id!r} (tokenizer "
                f"{type(self.tokenizer).__name__}) back to nucleotides: they do not spell "
                f"the input {seq[:30]!r}{'...' if len(seq) > 30 else ''}. Fix: use a model whose "
                "tokenizer is a fast tokenizer (offset mapping) or whose tokens spell their input"
            )
        return Tokens(torch.tensor(ids, dtype=torch.int64), token_of)

    def _batch(self, tokens: list[Tokens]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Right-padded ids and attention mask ``(batch, tokens)``, token_of ``(batch, pos)``."""
        n = max(len(t.ids) for t in tokens)
        if self._max_tokens and n > self._max_tokens:
            raise GenointerpError(
                f"a window tokenises to {n} tokens but model {self.model_id!r} takes at most "
                f"{self._max_tokens}. Fix: use windows of at most {self.context_length} "
                "nucleotides (fewer where runs of N break k-mers)"
            )
        ids = torch.full((len(tokens), n), self._pad_id, dtype=torch.int64)
        mask = torch.zeros((len(tokens), n), dtype=torch.int64)
        for row, t in enumerate(tokens):
            ids[row, : len(t.ids)] = t.ids
            mask[row, : len(t.ids)] = 1
        token_of = torch.from_numpy(np.stack([t.token_of for t in tokens]))
        return ids, mask, token_of

    # -- forward --------------------------------------------------------------------------

    def forward(self, codes: np.ndarray | torch.Tensor, layers: Sequence[str]) -> ModelOutput:
        """Per-nucleotide activations ``(batch, pos, d)`` and logits ``(batch, pos, vocab)``.

        Both are float32 and live on :attr:`device`.
        """
        return ModelOutput(*self._pass(codes, self.check_layers(layers)))

    def splice(
        self,
        codes: np.ndarray | torch.Tensor,
        layer: str,
        edit: Callable[[torch.Tensor], torch.Tensor],
        *,
        grad: bool = False,
    ) -> torch.Tensor:
        """Logits ``(batch, pos, vocab)`` per nucleotide with ``layer``'s output replaced by
        ``edit(output)``.

        ``edit`` gets the module's output per TOKEN, ``(batch, tokens, d)`` in float32 (the
        first element when the module returns a tuple, the first value of a model output;
        the rest passes through), and returns that shape; the result is cast back to the
        model's dtype. A k-mer or BPE token covers several nucleotides, so an edit acts on
        all of them at once (:meth:`tokenize` says which token covers which nucleotide);
        special tokens (``<bos>``, ``<cls>``, ...) and right padding are among the tokens.
        The logits are mapped back to nucleotides exactly as :meth:`forward` maps them.
        Where forward runs rows alone (a bidirectional model that takes no attention mask,
        rows of different token counts) ``edit`` is called once per row with batch 1.
        ``grad=True`` runs with autograd on (even inside ``torch.no_grad()``), so gradients
        flow back through the logits to anything ``edit`` used.

        Examples
        --------
        >>> codes = gi.models.as_codes("ACGTACGTACGTAC")  # doctest: +SKIP
        >>> model.splice(codes, "esm.encoder.layer.0", torch.zeros_like).shape  # doctest: +SKIP
        torch.Size([1, 14, 4107])
        """
        self.check_layers(layer)
        with torch.enable_grad() if grad else nullcontext():  # grad: even in a no_grad caller
            _, logits = self._pass(codes, [], (layer, edit), grad=grad)
        if logits is None:
            raise GenointerpError(
                f"model {self.model_id!r} ({type(self.model).__name__}) gives no logits, so "
                "splice has nothing to return. Fix: load a checkpoint with its language-model "
                "head (*ForCausalLM or *ForMaskedLM)"
            )
        return logits

    def _pass(
        self,
        codes: np.ndarray | torch.Tensor,
        layers: list[str],
        splice: tuple[str, Callable] | None = None,
        *,
        grad: bool = False,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Tokenise, batch, run (rows alone where padding would leak) and map back."""
        codes = normalise_codes(codes)  # (batch, pos)
        tokens = [self.tokenize(row.tobytes().decode("ascii")) for row in codes]
        ids, mask, token_of = self._batch(tokens)
        run = partial(self._run, layers=layers, splice=splice, grad=grad)
        ragged = len({len(t.ids) for t in tokens}) > 1
        if ragged and not self._takes_mask and not self.causal:
            # no attention mask: padding would leak into a bidirectional model, so run rows alone
            per_row = [
                self._gather(*run(ids[r : r + 1, : len(t.ids)], None), token_of[r : r + 1])
                for r, t in enumerate(tokens)
            ]
            acts = {name: torch.cat([a[name] for a, _ in per_row]) for name in layers}
            logits = None if per_row[0][1] is None else torch.cat([lg for _, lg in per_row])
            return acts, logits
        return self._gather(*run(ids, mask if self._takes_mask else None), token_of)

    def _run(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor | None,
        layers: list[str],
        splice: tuple[str, Callable] | None = None,
        grad: bool = False,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """One forward pass with hooks; per-token outputs ``(batch, tokens, d)``.

        ``splice`` = ``(layer, edit)`` replaces that layer's output by ``edit(output)``;
        ``grad`` runs with autograd on instead of in inference mode.
        """
        captured: dict[str, torch.Tensor] = {}
        handles = [
            self._named_modules[name].register_forward_hook(partial(_capture, captured, name))
            for name in layers
        ]
        if splice is not None:
            hook = EditHook(self, splice[0], splice[1], tuple(ids.shape))
            handles.append(self._named_modules[splice[0]].register_forward_hook(hook))
        inputs = {"input_ids": ids.to(self.device)}
        if mask is not None:
            inputs["attention_mask"] = mask.to(self.device)
        try:
            with torch.inference_mode(not grad):
                out = self.model(**inputs)
        finally:
            for handle in handles:
                handle.remove()
        if splice is not None:
            hook.check_fired()
        for name in layers:
            h = captured.get(name)
            if h is None or h.ndim != 3 or h.shape[:2] != ids.shape:
                raise _shape_error(self, name, h, ids.shape)
        return {name: captured[name] for name in layers}, getattr(out, "logits", None)

    def _gather(
        self, hidden: dict[str, torch.Tensor], logits: torch.Tensor | None, token_of: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Per token -> per nucleotide, as float32 (outside inference mode: ordinary tensors)."""
        index = token_of.to(self.device)  # (batch, pos)

        def take(t: torch.Tensor) -> torch.Tensor:  # (batch, tokens, d) -> (batch, pos, d)
            return torch.gather(t, 1, index[..., None].expand(-1, -1, t.shape[-1])).float()

        acts = {name: take(h) for name, h in hidden.items()}
        return acts, None if logits is None else take(logits)


def _first(output):
    """A module's main output: itself, the first element of a tuple or list, or the first
    value of a mapping (a transformers ``ModelOutput``); None when there is none."""
    if isinstance(output, Mapping):
        return next(iter(output.values()), None)
    if isinstance(output, tuple | list):
        return output[0] if output else None
    return output


def _with_first(output, value: torch.Tensor):
    """``output`` with its main output (see :func:`_first`) replaced by ``value``."""
    if isinstance(output, MutableMapping):  # a ModelOutput keeps its class and attributes
        output[next(iter(output))] = value
        return output
    if isinstance(output, Mapping):
        return {**output, next(iter(output)): value}
    if isinstance(output, tuple) and hasattr(output, "_make"):  # a NamedTuple
        return output._make([value, *output[1:]])
    if isinstance(output, tuple | list):
        return type(output)([value, *output[1:]])
    return value


def _shape_error(adapter: Adapter, layer: str, h, shape) -> GenointerpError:
    got = "no output" if not isinstance(h, torch.Tensor) else f"shape {tuple(h.shape)}"
    return GenointerpError(
        f"layer {layer!r} of model {adapter.model_id!r} gave {got}, not "
        f"(batch, tokens, d) = ({shape[0]}, {shape[1]}, d). "
        f"Fix: use one of {', '.join(adapter.layers)}"
    )


class EditHook:
    """Forward hook that replaces a module's output by ``edit(output)`` (see
    :meth:`HFAdapter.splice`); the Evo 2 adapter uses it too.

    ``edit`` gets the main output (:func:`_first`) as float32 and must return its shape;
    the result is cast back to the output's dtype and put where the output was.
    """

    def __init__(self, adapter: Adapter, layer: str, edit: Callable, shape: tuple) -> None:
        self.adapter, self.layer, self.edit = adapter, layer, edit
        self.shape = shape  # (batch, tokens) of the pass
        self.fired = False

    def __call__(self, module: nn.Module, args, output):
        h = _first(output)
        if not isinstance(h, torch.Tensor) or h.ndim != 3 or h.shape[:2] != self.shape:
            raise _shape_error(self.adapter, self.layer, h, self.shape)
        edited = self.edit(h.float())  # (batch, tokens, d)
        if not isinstance(edited, torch.Tensor) or edited.shape != h.shape:
            tensor = isinstance(edited, torch.Tensor)
            got = f"shape {tuple(edited.shape)}" if tensor else type(edited).__name__
            raise GenointerpError(
                f"the edit spliced into layer {self.layer!r} of {self.adapter.model_id!r} "
                f"returned {got}, not the shape it was given, {tuple(h.shape)}. "
                "Fix: return a tensor of the input's shape"
            )
        self.fired = True
        return _with_first(output, edited.to(h.dtype))

    def check_fired(self) -> None:
        """Refuse a pass in which the layer never ran: nothing was edited."""
        if not self.fired:
            raise _shape_error(self.adapter, self.layer, None, self.shape)


def _capture(store: dict, name: str, module: nn.Module, args, output) -> None:
    """Forward hook: keep a module's output (the first element of a tuple or model output)."""
    output = _first(output)
    if isinstance(output, torch.Tensor):
        store[name] = output
