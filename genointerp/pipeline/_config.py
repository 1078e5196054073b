"""The settings of a whole run: one dataclass per stage, one docstring per field.

The same objects are read from the run's YAML file, set by the CLI's flags (``--set KEY=VALUE``
and the demo's named flags, whose defaults and help come from here) and saved as
``RUN/config.yaml``; each stage's fingerprint hashes its own part of them.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .._config import from_dict, load_yaml, reference_rows
from ..align import DEFAULT_FRACTIONS, align
from ..errors import ConfigError
from ..export import NAMING_STYLES, export_run
from ..rank import RankSettings
from ..sae import SAETrainConfig, StreamConfig
from ._slurm import SlurmConfig

STAGES = ("concepts", "extract", "sae", "encode", "align", "rank", "export", "report")
"""Stages of a run, in the order they run."""
SHARDED = ("extract", "encode")
"""Stages that a cluster can split into array tasks (``--shard I``)."""
_ALIGN_DEFAULTS = inspect.signature(align).parameters  # defaults are written once, in gi.align
_EXPORT_DEFAULTS = inspect.signature(export_run).parameters  # and in gi.export


@dataclass
class GenomeConfig:
    """One genome of the run: a data set by name, or the user's own files."""

    dataset: str = ""
    """Data set name (``genointerp data list``); its genome, annotations and catalog are used."""
    sequence: str = ""
    """Instead of ``dataset``: the genome file (FASTA, GenBank, gzip allowed)."""
    annotations: list[str] = field(default_factory=list)
    """Annotation files (GFF3, GenBank or BED) of ``sequence`` (needed when it is aligned);
    relative paths are read from the config file's folder."""
    catalog: str = ""
    """Concept catalog: a built-in name (``prokaryote``, ``eukaryote``, ``regulatory``) or a YAML
    path; empty means the data set's own (required with ``sequence``)."""
    aliases: str = ""
    """Contig alias table (``alias<TAB>contig``) for annotation files that name contigs
    otherwise."""
    name: str = ""
    """Short name of the genome in the run (a folder name); default: the data set's name or the
    sequence file's stem."""
    heldout: bool = False
    """Keep this genome out of SAE training: it is aligned and ranked as the unseen test genome."""
    align: bool = True
    """Align, rank and report this genome; ``false``: it only feeds SAE training (with
    ``sae.stream`` it is never written to disk: many large training genomes, few aligned ones)."""
    annotate: list[str] = field(default_factory=list)
    """Sequence annotators whose rows join the annotation files' (``all``, or some of
    ``prodigal``, ``aragorn``, ``barrnap``, ``transtermhp``, ``pilercr``); enough on their own
    for a genome with no annotation file.  Catalog concepts that name an annotator run it
    anyway."""
    curated: bool = True
    """Use the data set's (or ``annotations``') curated files; ``false``: annotators alone."""
    translation_table: int = 0
    """Genetic code Prodigal uses (11; 4 for Mycoplasma and relatives); 0: chosen
    automatically."""
    kingdom: str = ""
    """barrnap's rRNA models: ``bac`` or ``arc``; empty: ``arc`` for a data set of kind
    archaeon, else ``bac``."""

    def __post_init__(self) -> None:
        if bool(self.dataset) == bool(self.sequence):
            raise ValueError(
                "give exactly one of 'dataset' (a data set name) or 'sequence' (a file)"
            )
        if self.dataset and (self.annotations or self.aliases):
            raise ValueError(
                f"data set {self.dataset!r} brings its own annotations and aliases; to use "
                "your files, give the genome as 'sequence' with 'annotations' and 'aliases'"
            )
        if self.sequence and self.align and not (self.annotations or self.annotate):
            raise ValueError(
                f"sequence {self.sequence!r} needs 'annotations' (GFF3, GenBank or BED), "
                "'annotate: [all]' (sequence annotators) or both"
            )
        _check_annotate(self.annotate)
        if self.kingdom not in ("", "bac", "arc"):
            raise ValueError(f"kingdom {self.kingdom!r} must be 'bac' or 'arc'")
        if self.translation_table < 0:
            raise ValueError(
                f"translation_table {self.translation_table} must be 0 (auto) or a code"
            )
        if self.sequence and self.align and not self.catalog:
            raise ValueError(f"sequence {self.sequence!r} needs 'catalog' (e.g. prokaryote)")
        if self.heldout and not self.align:
            raise ValueError("a genome that is heldout and not aligned would not be used at all")
        if not self.name:
            self.name = self.dataset or _stem(self.sequence)
        if not self.name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"name {self.name!r} must be letters, digits, '_', '-' or '.'")


def _check_annotate(tools: list[str]) -> None:
    allowed = ("all", "prodigal", "aragorn", "barrnap", "transtermhp", "pilercr")
    unknown = [t for t in tools if t not in allowed]
    if unknown:
        raise ValueError(f"annotate: unknown annotator(s) {unknown}; use {', '.join(allowed)}")


@dataclass
class ConceptsConfig:
    """Concept tracks derived from each genome's annotations."""

    concepts: list[str] = field(default_factory=list)
    """Only these concepts of the catalog; empty means all of them."""
    bed: bool = True
    """Also write one BED file per concept (``RUN/bed``)."""


@dataclass
class ExtractConfig:
    """The DNA model and how it is run over each genome."""

    model: str = "tiny"
    """Model adapter: ``tiny`` (the built-in model), ``hf`` (transformers) or ``evo2``."""
    weights: str = ""
    """The model's weights: a local folder, a hub id (hf) or an Evo 2 name; empty: the adapter's
    default (the built-in model's shipped weights)."""
    layer: str = ""
    """Layer to read (``genointerp extract --list-layers``); empty: the model's middle block."""
    strands: list[str] = field(default_factory=lambda: ["+", "-"])
    """Strands to run: ``+``, ``-`` or both."""
    window: int = 0
    """Nucleotides per forward pass; 0: the model's default."""
    overlap: int = -1
    """Nucleotides shared by consecutive windows; -1: the model's default."""
    min_context: int = -1
    """Least left context of a stored position; -1: the model's default."""
    batch_size: int = 0
    """Windows per forward pass; 0: the model's default."""
    device: str = "auto"
    """``auto`` (CUDA when there is one), ``cpu`` or ``cuda[:i]``."""
    dtype: str = "auto"
    """Model precision: ``auto``, ``float32``, ``bfloat16`` or ``float16``."""
    store_dtype: str = "float16"
    """Precision of the stored activations: ``float16`` or ``float32``."""
    shards: int = 1
    """Parts the extraction is split into (one SLURM array task each)."""

    def __post_init__(self) -> None:
        from ..models import list_adapters

        if self.model not in list_adapters():
            raise ValueError(f"model {self.model!r} is not one of {', '.join(list_adapters())}")
        if not set(self.strands) <= {"+", "-"} or not self.strands:
            raise ValueError(f"strands {self.strands!r} must be '+', '-' or both")
        _at_least(self, shards=1, window=0, batch_size=0, overlap=-1, min_context=-1)
        if self.store_dtype not in ("float16", "float32"):
            raise ValueError(f"store_dtype {self.store_dtype!r} must be float16 or float32")


@dataclass
class SAEEvalConfig:
    """Held-out evaluation of the trained SAE (``RUN/sae/eval.json``, read by the report)."""

    positions: int = 131_072
    """Held-out positions for FVU, L0 and dead fraction."""
    windows: int = 8
    """Genome windows for loss recovered (the model's loss with the SAE spliced in); 0: off."""


@dataclass
class SAEStageConfig:
    """The sparse autoencoder trained on the training genomes' activations."""

    train: SAETrainConfig = field(default_factory=SAETrainConfig)
    """Training settings (``genointerp sae train``); ``data``'s ``source``, ``store``,
    ``stores``, ``layer`` and ``stream`` are set by the run (from ``genomes``, ``extract`` and
    ``sae.stream``)."""
    evaluate: SAEEvalConfig = field(default_factory=SAEEvalConfig)
    """Evaluation after training (on each aligned genome's store)."""
    stream: bool = False
    """Train on activations the model produces during training (``data.source: model``), for
    the training genomes, with nothing written to disk; only aligned genomes are extracted."""

    def __post_init__(self) -> None:
        data = self.train.data
        if data.store or data.stores or data.source != "store" or data.stream != StreamConfig():
            raise ValueError(
                "sae.train.data.store, stores, source and stream are set by the run from its "
                "genomes and extract; drop them (sae.stream: true trains from the model)"
            )
        if data.layer:
            raise ValueError(
                f"sae.train.data.layer {data.layer!r} is set by the run; set extract.layer instead"
            )


@dataclass
class EncodeConfig:
    """Sparse feature activations of every position (``features.h5``)."""

    device: str = "cpu"
    """Device of the SAE while encoding: ``cpu`` or ``cuda[:i]``."""
    shards: int = 1
    """Parts the encoding is split into (one SLURM array task each)."""

    def __post_init__(self) -> None:
        _at_least(self, shards=1)


@dataclass
class AlignConfig:
    """Every feature against every concept: thresholds on validation blocks, scores on test."""

    fractions: list[float] = field(default_factory=lambda: list(DEFAULT_FRACTIONS))
    """Thresholds, as fractions of each feature's max activation."""
    metric: str = "element_f1"
    """Score that picks a feature's threshold and best concept: ``element_f1`` or ``f1``."""
    block: int = 100_000
    """Validation and test blocks alternate along the genome in blocks of this many nt."""
    n_shifts: int = _ALIGN_DEFAULTS["n_shifts"].default
    """Circular shifts of the concept track per significance test (smallest p = 1/(n+1))."""
    max_tests: int = 0
    """Test at most this many per-feature best matches, best on validation first; 0: all."""
    min_effect: float = _ALIGN_DEFAULTS["min_effect"].default
    """Test best matches whose validation score reaches this."""
    baselines: bool = False
    """Also align the raw neurons and a linear probe per concept (``RUN/baselines``)."""

    def __post_init__(self) -> None:
        if self.metric not in ("element_f1", "f1"):
            raise ValueError(f"metric {self.metric!r} must be element_f1 or f1")
        if not self.fractions or not all(0 <= f < 1 for f in self.fractions):
            raise ValueError(f"fractions {self.fractions!r} must be in [0, 1)")
        _at_least(self, block=1000, n_shifts=1, max_tests=0)


@dataclass
class RankConfig:
    """Known concepts against candidate novel ones, with their evidence."""

    known_f1: float = RankSettings.known_f1
    """A feature is known when its held-out element-F1 reaches this (and it is significant)."""
    alpha: float = RankSettings.alpha
    """False discovery rate of the significance tests."""
    motifs: str = "jaspar2024_core"
    """Motifs compared with the features' logos: a data set name, a MEME file, or empty for none."""

    def __post_init__(self) -> None:
        if not 0 < self.known_f1 <= 1 or not 0 < self.alpha < 1:
            raise ValueError("known_f1 must be in (0, 1] and alpha in (0, 1)")


@dataclass
class ExportConfig:
    """Browser tracks (BED, bigBed, bigWig, IGV session, UCSC hub)."""

    n_known: int = _EXPORT_DEFAULTS["n_known"].default
    """Known features exported, best held-out element-F1 first, one per feature family."""
    n_novel: int = _EXPORT_DEFAULTS["n_novel"].default
    """Candidate novel features exported, most novel first, one per feature family."""
    contig_names: str = _EXPORT_DEFAULTS["contig_names"].default
    """Contig names in every file: ``genome``, ``chr`` or ``accession``."""

    def __post_init__(self) -> None:
        _at_least(self, n_known=0, n_novel=0)
        if self.contig_names not in NAMING_STYLES:
            raise ValueError(
                f"contig_names {self.contig_names!r} must be one of {', '.join(NAMING_STYLES)}"
            )


@dataclass
class ReportConfig:
    """The genome viewer page and the HTML report."""

    viewer: bool = True
    """Write the igv.js viewer (``RUN/viewer``)."""
    report: bool = True
    """Write the HTML report with its plots (``RUN/report``)."""


@dataclass
class PipelineConfig:
    """A whole run (``genointerp run CONFIG.yaml``)."""

    genomes: list[GenomeConfig]
    """Genomes of the run; the SAE trains on all but the ``heldout`` ones."""
    output: str = "genointerp_run"
    """The run folder; relative paths are read from the config file's folder."""
    concepts: ConceptsConfig = field(default_factory=ConceptsConfig)
    """Concept tracks."""
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    """Model and extraction."""
    sae: SAEStageConfig = field(default_factory=SAEStageConfig)
    """SAE training and evaluation."""
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    """Feature encoding."""
    align: AlignConfig = field(default_factory=AlignConfig)
    """Alignment with the concepts."""
    rank: RankConfig = field(default_factory=RankConfig)
    """Ranking."""
    export: ExportConfig = field(default_factory=ExportConfig)
    """Browser tracks."""
    report: ReportConfig = field(default_factory=ReportConfig)
    """Viewer and report."""
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    """Cluster jobs (``genointerp slurm``)."""

    source: ClassVar[str] = ""
    """The file the config was read from (not a setting)."""

    def __post_init__(self) -> None:
        if not self.genomes:
            raise ValueError("genomes must list at least one genome")
        names = [g.name for g in self.genomes]
        if len(set(names)) != len(names):
            raise ValueError(f"genome names must differ, got {names}; set 'name:' on each")
        if all(g.heldout for g in self.genomes):
            raise ValueError("every genome is heldout; the SAE needs at least one to train on")
        if not any(g.align for g in self.genomes):
            raise ValueError("no genome has align: true; at least one must be aligned")

    @property
    def training_genomes(self) -> list[GenomeConfig]:
        return [g for g in self.genomes if not g.heldout]

    @property
    def aligned_genomes(self) -> list[GenomeConfig]:
        return [g for g in self.genomes if g.align]

    def genome_folder(self, genome: GenomeConfig) -> Path:
        """Where ``genome``'s outputs go: the run folder itself when the run has one genome,
        else ``RUN/genomes/<name>``."""
        root = Path(self.output)
        return root if len(self.genomes) == 1 else root / "genomes" / genome.name

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read and check a run's YAML file; ``overrides`` maps dotted keys (``align.n_shifts``) to
    values applied before checking.  Relative paths become paths from the file's folder."""
    path = Path(path)
    data = load_yaml(path)
    return config_from_dict(data, path, overrides)


def config_from_dict(
    data: Any, source: str | Path = "<config>", overrides: dict[str, Any] | None = None
) -> PipelineConfig:
    """A checked :class:`PipelineConfig` from a mapping (as read from YAML)."""
    data = dict(data) if isinstance(data, dict) else data
    for key, value in (overrides or {}).items():
        data = set_key(data, key, value, source)
    config = from_dict(PipelineConfig, data, source, "config")
    base = Path(source).parent if Path(source).is_file() else Path.cwd()
    config = _resolve_paths(config, base, source)
    config.source = str(source)  # named by errors found later (an unknown layer)
    return config


def set_key(data: dict, key: str, value: Any, source) -> dict:
    """``data`` with the dotted ``key`` set to ``value`` (copying the mappings on the way)."""
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(source, f"bad key {key!r}", "write dotted keys like align.n_shifts")
    out = dict(data)
    node = out
    for part in parts[:-1]:
        child = node.get(part, {})
        if not isinstance(child, dict):
            raise ConfigError(source, f"{key!r}: {part!r} is not a section", "set a leaf key")
        node[part] = child = dict(child)
        node = child
    node[parts[-1]] = value
    return out


def parse_overrides(items: list[str], source: str = "--set") -> dict[str, Any]:
    """``["align.n_shifts=200", ...]`` -> ``{"align.n_shifts": 200}`` (values read as YAML)."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(source, f"{item!r} is not KEY=VALUE", "write e.g. align.n_shifts=200")
        out[key.strip()] = yaml.safe_load(text) if text.strip() else ""
    return out


def _resolve_paths(config: PipelineConfig, base: Path, source) -> PipelineConfig:
    """Make file paths absolute from the config's folder and check that each exists."""

    def resolve(text: str, what: str) -> str:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise ConfigError(source, f"{what} {text!r} does not exist ({path})", "fix the path")
        return str(path)

    for i, genome in enumerate(config.genomes):
        where = f"genomes[{i}]"
        if genome.sequence:
            genome.sequence = resolve(genome.sequence, f"{where}.sequence")
            genome.annotations = [
                resolve(a, f"{where}.annotations[{j}]") for j, a in enumerate(genome.annotations)
            ]
        if genome.aliases:
            genome.aliases = resolve(genome.aliases, f"{where}.aliases")
        if genome.catalog.endswith((".yaml", ".yml")):
            genome.catalog = resolve(genome.catalog, f"{where}.catalog")
    if config.rank.motifs and Path(config.rank.motifs).suffix in (".meme", ".txt", ".gz"):
        config.rank.motifs = resolve(config.rank.motifs, "rank.motifs")
    output = Path(config.output).expanduser()
    config.output = str(output if output.is_absolute() else base / output)
    return config


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    return Path(name).stem


def _at_least(obj, **minimums: int) -> None:
    for name, minimum in minimums.items():
        value = getattr(obj, name)
        if value < minimum:
            raise ValueError(f"{name} is {value}, must be at least {minimum}")


def config_reference() -> str:
    """Every key of a run's config as a Markdown table (key, default, meaning), from the
    dataclasses' field docstrings: the reference in ``docs/pipeline.md``."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, doc in reference_rows(PipelineConfig):
        text = doc.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {text} |")
    return "\n".join(lines) + "\n"
