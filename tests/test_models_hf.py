"""Hugging Face adapter, for real through ``from_pretrained`` on tiny randomly initialised models.

Two models are saved to a temporary folder once per module: an ``EsmForMaskedLM`` with a
Nucleotide-Transformer-style 6-mer ``EsmTokenizer`` (slow tokenizer: token strings are
re-aligned) and a character-level ``GPT2LMHeadModel`` with a fast tokenizer (offsets).
Every activation is checked against the raw model's own hidden states. Nothing here
touches the network.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys

import pytest
import torch

import genointerp as gi
from genointerp.cli import main
from genointerp.errors import GenointerpError

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

ESM_SPECIALS = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
KMERS = ["".join(p) for p in itertools.product("ACGT", repeat=6)]
CHAR_VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", *"ACGTN"]


def _esm_tokenizer(path, singles="ACGTN"):
    path.write_text("\n".join(ESM_SPECIALS + KMERS + list(singles)))
    return transformers.EsmTokenizer(str(path))


def save_esm(directory):
    """EsmForMaskedLM (hidden 32, 2 layers, 2 heads) with special tokens + 6-mers + A C G T N."""
    tokenizer = _esm_tokenizer(directory / "vocab.txt")
    config = transformers.EsmConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        position_embedding_type="absolute",
        pad_token_id=tokenizer.pad_token_id,
        mask_token_id=tokenizer.mask_token_id,
    )
    torch.manual_seed(0)
    transformers.EsmForMaskedLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def esm_dir(tmp_path_factory):
    return save_esm(tmp_path_factory.mktemp("esm"))


def _char_tokenizer():
    """A fast WordLevel tokenizer over single nucleotides that adds <bos>."""
    vocab = {token: i for i, token in enumerate(CHAR_VOCAB)}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Split("", "isolated")  # one per character
    core.post_processor = tokenizers.processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )


def save_char_gpt2(directory):
    """GPT2LMHeadModel over single nucleotides; a fast WordLevel tokenizer that adds <bos>."""
    tokenizer = _char_tokenizer()
    vocab = tokenizer.get_vocab()
    config = transformers.GPT2Config(
        vocab_size=len(vocab),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=vocab["<bos>"],
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
    )
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def char_dir(tmp_path_factory):
    return save_char_gpt2(tmp_path_factory.mktemp("char"))


@pytest.fixture(scope="module")
def esm(esm_dir):
    return gi.models.load_model("hf", str(esm_dir))


@pytest.fixture(scope="module")
def char(char_dir):
    return gi.models.load_model("hf", str(char_dir))


def _reference(model_cls, directory, seq):
    """The raw model's hidden states and logits for one sequence, tokenised by its tokenizer."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = model_cls.from_pretrained(directory, local_files_only=True).eval()
    with torch.no_grad():
        return model(**tokenizer(seq, return_tensors="pt"), output_hidden_states=True)


def _pieces(directory, seq):
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return tokenizer.convert_ids_to_tokens(tokenizer(seq)["input_ids"])


def test_esm_tokenizer_splits_into_6mers_with_single_nucleotide_leftovers(esm_dir):
    assert _pieces(esm_dir, "ACGTACGTACGTAC") == ["<cls>", "ACGTAC", "GTACGT", "A", "C", "<eos>"]
    assert _pieces(esm_dir, "ACGTACNNNACGTACGGTACGT") == [
        *["<cls>", "ACGTAC", "N", "N", "N", "ACGTAC", "GGTACG", "T", "<eos>"]
    ]


@pytest.mark.parametrize(
    ("seq", "token_of"),
    [
        # 14 nt: two 6-mers after <cls>, then single-nucleotide leftovers 1:1
        ("ACGTACGTACGTAC", [1 + i // 6 for i in range(12)] + [3, 4]),
        # 22 nt with N: the Ns are single tokens, the 6-mers around them keep their place
        ("ACGTACNNNACGTACGGTACGT", [1] * 6 + [2, 3, 4] + [5] * 6 + [6] * 6 + [7]),
    ],
)
def test_esm_nucleotide_i_gets_the_hidden_state_of_the_token_covering_it(
    esm, esm_dir, seq, token_of
):
    assert esm.tokenize(seq).token_of.tolist() == token_of
    layers = ["esm.encoder.layer.0", "esm.encoder.emb_layer_norm_after"]
    out = esm.run(seq, layers)
    ref = _reference(transformers.EsmForMaskedLM, esm_dir, seq)
    assert out.activations["esm.encoder.layer.0"].shape == (1, len(seq), 32)
    # hidden_states[1] is layer 0's output; hidden_states[-1] the final norm's
    torch.testing.assert_close(out.activations[layers[0]][0], ref.hidden_states[1][0, token_of])
    torch.testing.assert_close(out.activations[layers[1]][0], ref.hidden_states[-1][0, token_of])
    torch.testing.assert_close(out.logits[0], ref.logits[0, token_of])
    assert out.logits.shape == (1, len(seq), len(ESM_SPECIALS) + 4096 + 5)


def test_esm_rows_with_different_token_counts_match_single_runs(esm):
    rows = ["ACGTACGTACGTACGTAACG", "ACGTACGTNACGTACGTAAC", "NNNNNNNNNNNNNNNNNNNN"]
    assert len({len(esm.tokenize(row).ids) for row in rows}) == 3  # so rows are padded
    batch = esm.run(rows, "esm.encoder.layer.1")
    for i, row in enumerate(rows):
        single = esm.run(row, "esm.encoder.layer.1")
        torch.testing.assert_close(
            batch.activations["esm.encoder.layer.1"][i],
            single.activations["esm.encoder.layer.1"][0],
        )
        torch.testing.assert_close(batch.logits[i], single.logits[0])


def test_esm_unknown_token_covers_the_gap_before_the_next_token(esm, esm_dir, monkeypatch):
    no_n = _esm_tokenizer(esm_dir.parent / "vocab_without_n.txt", singles="ACGT")
    monkeypatch.setattr(esm, "tokenizer", no_n)
    # <cls> ACGTAC <unk> ACGTAC <eos>: the unknown token takes the three Ns
    assert esm.tokenize("ACGTACNNNACGTAC").token_of.tolist() == [1] * 6 + [2] * 3 + [3] * 6


def test_tokens_that_do_not_spell_the_input_raise(esm, monkeypatch):
    monkeypatch.setattr(esm.tokenizer, "convert_ids_to_tokens", lambda ids: ["GGGGGG"] * len(ids))
    with pytest.raises(GenointerpError, match="cannot map the tokens of model") as err:
        esm.tokenize("ACGTACGT")
    assert "EsmTokenizer" in str(err.value) and esm.model_id in str(err.value)


def test_char_level_causal_model_maps_nucleotide_i_to_token_i_after_bos(char, char_dir):
    seq = "ACGTNACGGTTACA"
    assert char.causal is True
    assert char.tokenize(seq).token_of.tolist() == [i + 1 for i in range(len(seq))]
    out = char.run(seq, ["transformer.h.0", "transformer.ln_f"])
    ref = _reference(transformers.GPT2LMHeadModel, char_dir, seq)
    torch.testing.assert_close(out.activations["transformer.h.0"][0], ref.hidden_states[1][0, 1:])
    torch.testing.assert_close(out.activations["transformer.ln_f"][0], ref.hidden_states[-1][0, 1:])
    assert out.logits.shape == (1, len(seq), len(CHAR_VOCAB))
    torch.testing.assert_close(out.logits[0], ref.logits[0, 1:])


def test_char_level_batch_rows_equal_single_runs(char):
    rows = ["ACGTACGTTTGACA", "GGGGCCCCAAAATT", "TNTNTNACGACGAC"]
    batch = char.run(rows, "transformer.h.1")
    for i, row in enumerate(rows):
        single = char.run(row, "transformer.h.1")
        torch.testing.assert_close(
            batch.activations["transformer.h.1"][i], single.activations["transformer.h.1"][0]
        )
        torch.testing.assert_close(batch.logits[i], single.logits[0])


def test_codes_are_read_upper_case_with_anything_else_as_n(char):
    lower = char.forward(gi.models.as_codes("acgtryac"), ["transformer.h.0"])
    upper = char.forward(gi.models.as_codes("ACGTNNAC"), ["transformer.h.0"])
    assert torch.equal(lower.activations["transformer.h.0"], upper.activations["transformer.h.0"])
    lower.activations["transformer.h.0"].add_(1)  # an ordinary tensor, not an inference-mode one


def test_layer_names_in_depth_order_and_unknown_layer(esm, char):
    assert esm.layers == [
        "esm.embeddings",
        "esm.encoder.layer.0",
        "esm.encoder.layer.1",
        "esm.encoder.emb_layer_norm_after",
    ]
    assert esm.blocks == ["esm.encoder.layer.0", "esm.encoder.layer.1"]
    assert esm.default_layer == "esm.encoder.layer.1"
    assert char.layers == [
        "transformer.wte",
        "transformer.h.0",
        "transformer.h.1",
        "transformer.ln_f",
    ]
    assert char.default_layer == "transformer.h.1"  # the middle block, not the embedding
    with pytest.raises(gi.models.LayerError, match="did you mean 'transformer.h.1'") as err:
        char.run("ACGT", "transformer.h.11")
    assert "transformer.ln_f" in str(err.value)
    deeper = char.run("ACGTAC", "transformer.h.0.mlp").activations["transformer.h.0.mlp"]
    assert deeper.shape == (1, 6, 32)


# Three-block models of other families: config class, model class and the layers expected in
# depth order (embedding, blocks, final norm if the family has one). Mistral's config defaults
# to 8 key/value heads, so every config is given 2 (families without the field ignore it).
ARCHITECTURES = {
    "bert": (  # DNABERT style: no final norm, each block ends in its own
        "BertConfig",
        "BertForMaskedLM",
        ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1", "bert.encoder.layer.2"],
    ),
    "roberta": (
        "RobertaConfig",
        "RobertaForMaskedLM",
        [
            *["roberta.embeddings", "roberta.encoder.layer.0", "roberta.encoder.layer.1"],
            "roberta.encoder.layer.2",
        ],
    ),
    "llama": (
        "LlamaConfig",
        "LlamaForCausalLM",
        [
            *["model.embed_tokens", "model.layers.0", "model.layers.1", "model.layers.2"],
            "model.norm",
        ],
    ),
    "mistral": (
        "MistralConfig",
        "MistralForCausalLM",
        [
            *["model.embed_tokens", "model.layers.0", "model.layers.1", "model.layers.2"],
            "model.norm",
        ],
    ),
    "gpt_neox": (
        "GPTNeoXConfig",
        "GPTNeoXForCausalLM",
        [
            *["gpt_neox.embed_in", "gpt_neox.layers.0", "gpt_neox.layers.1", "gpt_neox.layers.2"],
            "gpt_neox.final_layer_norm",
        ],
    ),
}


@pytest.mark.parametrize("family", ARCHITECTURES)
def test_layers_of_each_family_are_in_depth_order(family, tmp_path):
    config_name, model_name, expected = ARCHITECTURES[family]
    model_cls = getattr(transformers, model_name)
    tokenizer = _char_tokenizer()
    config = getattr(transformers, config_name)(
        vocab_size=len(CHAR_VOCAB),
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model_cls(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model = gi.models.load_model("hf", str(tmp_path))
    assert model.layers == expected
    assert model.blocks == [name for name in expected if name[-1].isdigit()]
    assert model.default_layer == expected[2]  # the middle one of three blocks
    seq = "ACGTNACGGTTACA"
    out = model.run(seq, model.layers)
    # hidden_states: the embedding's output, each block's, the last one after the final norm;
    # so layer i is hidden state i, and the last layer is the last hidden state
    hidden = _reference(model_cls, tmp_path, seq).hidden_states
    assert len(hidden) == 4
    for i, name in enumerate(expected[:3]):
        torch.testing.assert_close(out.activations[name][0], hidden[i][0, 1:])  # after <bos>
    torch.testing.assert_close(out.activations[expected[-1]][0], hidden[-1][0, 1:])


def test_cli_lists_the_layers_of_a_hf_model_in_depth_order(char_dir, capsys):
    argv = ["extract", "--list-layers", "--model", "hf", "--weights", str(char_dir)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "transformer.wte",
        "transformer.h.0",
        "transformer.h.1  (default)",
        "transformer.ln_f",
    ]


def test_description_and_context_length_rule(esm, esm_dir, char):
    assert esm.describe() == {
        "adapter": "hf",
        "model_id": f"hf:{esm_dir.resolve()}",
        "causal": False,
        "d_model": 32,
        # 64 positions less pad_token_id + 1 (ESM position offset) = 62 tokens, less <cls>
        # and <eos> = 60 tokens, times 6 nucleotides per 6-mer
        "context_length": 360,
        "dtype": "float32",
    }
    assert char.context_length == 63  # 64 positions less <bos>, one nucleotide per token
    assert char.run("A" * 63, "transformer.h.0").activations["transformer.h.0"].shape[1] == 63
    with pytest.raises(GenointerpError, match="tokenises to 65 tokens .* at most 64"):
        char.run("A" * 64, "transformer.h.0")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_hub_id_without_allow_download_is_refused_offline(no_network):
    with pytest.raises(GenointerpError, match="allow_download=True") as err:
        gi.models.load_model("hf", "genointerp-tests/no-such-model")
    assert "'genointerp-tests/no-such-model' is not a local directory" in str(err.value)
    assert "--allow-download" in str(err.value)


def test_remote_code_is_refused_unless_asked(tmp_path, no_network):
    config = {
        "model_type": "dna-custom",
        "architectures": ["DnaCustomForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_dna.DnaConfig",
            "AutoModelForCausalLM": "modeling_dna.DnaForCausalLM",
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(GenointerpError, match="ships its own Python code") as err:
        gi.models.load_model("hf", str(tmp_path))
    assert "trust_remote_code=True" in str(err.value)


def test_trust_remote_code_and_local_files_only_are_passed_explicitly(char_dir, monkeypatch):
    calls = []
    for cls in (transformers.AutoConfig, transformers.AutoTokenizer):
        monkeypatch.setattr(cls, "from_pretrained", _spy(cls.from_pretrained, cls, calls))
    auto = transformers.AutoModelForCausalLM
    monkeypatch.setattr(auto, "from_pretrained", _spy(auto.from_pretrained, auto, calls))
    gi.models.load_model("hf", str(char_dir))
    # AutoTokenizer reads the config too, passing the flags on
    assert {name for name, _ in calls} == {"AutoConfig", "AutoTokenizer", auto.__name__}
    assert {flags for _, flags in calls} == {(False, True)}
    calls.clear()
    gi.models.load_model("hf", str(char_dir), trust_remote_code=True)
    assert {flags for _, flags in calls} == {(True, True)}


def _spy(original, cls, calls):
    def spy(*args, **kwargs):
        flags = (kwargs["trust_remote_code"], kwargs["local_files_only"])
        calls.append((cls.__name__, flags))
        return original(*args, **kwargs)

    return spy


def test_directory_without_tokenizer_files_is_refused(char_dir, tmp_path):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((char_dir / name).read_bytes())
    with pytest.raises(GenointerpError, match="may lack its tokenizer files"):
        gi.models.load_model("hf", str(tmp_path))


def test_missing_transformers_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(GenointerpError, match=r'pip install "genointerp\[hf\]"'):
        gi.models.load_model("hf", str(tmp_path))
