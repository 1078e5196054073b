"""The stages of a run: what each reads, what it writes, which settings it depends on.

Every stage calls the same public functions a notebook would (``gi.concepts.build``,
``gi.acts.extract``, ``gi.sae.train_sae``, ...).  Per-genome stages write into the genome's
folder (the run folder itself when the run has one genome, else ``RUN/genomes/<name>``); the
SAE is shared, in ``RUN/sae``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .._atomic import atomic_path
from .._rundir import write_run_info
from ._config import GenomeConfig, PipelineConfig
from ._state import file_checksum

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """One run's config, folder and the objects its stages share (loaded once)."""

    config: PipelineConfig
    progress: bool = True
    echo: Callable[[str], None] = print
    _cache: dict = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return Path(self.config.output)

    def folder(self, genome: GenomeConfig) -> Path:
        """Where ``genome``'s outputs go."""
        return self.config.genome_folder(genome)

    @property
    def sae_dir(self) -> Path:
        return self.root / "sae"

    def genome(self, g: GenomeConfig):
        """``(Genome, annotations, catalog, genome file)`` of ``g``, loaded once."""
        key = ("genome", g.name)
        if key not in self._cache:
            self._cache[key] = _load_genome(g, self.progress)
        return self._cache[key]

    def model(self):
        """The DNA model adapter of ``extract``, loaded once."""
        if "model" not in self._cache:
            from ..models import load_model

            ex = self.config.extract
            self._cache["model"] = load_model(
                ex.model, ex.weights or None, device=ex.device, dtype=ex.dtype
            )
        return self._cache["model"]

    def layer(self) -> str:
        return self.config.extract.layer or self.model().default_layer

    def tracks(self, g: GenomeConfig):
        from ..concepts import ConceptTracks

        return ConceptTracks.read(self.folder(g) / "concepts.h5")


def _load_genome(g: GenomeConfig, progress: bool):
    from ..io import Genome, read_alias_table

    if g.dataset:
        from ..datasets import load

        dataset = load(g.dataset, progress=progress)
        genome = dataset.genome()
        annotations = dataset.annotation_table(genome, missing="skip")
        return genome, annotations, g.catalog or dataset.manifest.catalog, dataset.path()
    aliases = read_alias_table(g.aliases) if g.aliases else None
    genome = Genome.open(g.sequence, aliases=aliases)
    return genome, list(g.annotations), g.catalog, Path(g.sequence)


def _checksum(path: str) -> str:
    """``file_checksum``, computed once per file version (size and mtime) in this process."""
    stat = Path(path).stat()
    return _checksum_of(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _checksum_of(path: str, size: int, mtime_ns: int) -> str:
    return file_checksum(path)


def genome_identity(g: GenomeConfig, sequence_only: bool = False) -> dict:
    """What the genome's outputs depend on: checksums of its files (the data set's recorded ones,
    or the user's) and its catalog; ``sequence_only``: only what the model reads (the sequence
    and the contig aliases), so that new annotations or another catalog leave extraction be."""
    if g.dataset:
        from ..datasets import get_manifest

        manifest = get_manifest(g.dataset)
        names = [manifest.genome] if sequence_only else [f.name for f in manifest.files]
        sums = {f.name: f.sha256 for f in manifest.files}
        identity = {"dataset": g.dataset, "files": {name: sums[name] for name in names if name}}
        files = [g.aliases]
    else:
        identity = {"files": {}}
        files = [g.sequence, g.aliases, *([] if sequence_only else g.annotations)]
    if not sequence_only:
        identity["catalog"] = g.catalog
        identity["annotate"] = {
            "tools": g.annotate,
            "curated": g.curated,
            "translation_table": g.translation_table,
            "kingdom": g.kingdom,
        }
        if g.catalog.endswith((".yaml", ".yml")):
            files.append(g.catalog)
    identity["files"] |= {Path(f).name: _checksum(f) for f in files if f}
    return identity


# -- the stages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A stage: its outputs, the stages whose outputs it reads, the settings it depends on."""

    name: str
    outputs: Callable[[RunContext, GenomeConfig | None], list[Path]]
    needs: tuple[str, ...]
    settings: Callable[[RunContext, GenomeConfig | None], dict]
    run: Callable[..., None]
    per_genome: bool = True
    optional: tuple[str, ...] = ()  # outputs some settings turn off: removed on a rerun too
    scratch: tuple[str, ...] = ()  # partial files removed with the outputs on a rerun (shard
    # files are not: a merge job must not delete the shards it merges; extract and encode refuse
    # a shard written with other settings)


def _concepts(ctx: RunContext, g: GenomeConfig) -> None:
    from ..concepts import build
    from ..export import concept_beds

    genome, annotations, catalog, source = ctx.genome(g)
    folder = ctx.folder(g)
    info = {"dataset": g.dataset or None, "genome": str(source), "aliases": g.aliases or None}
    write_run_info(folder, **info)
    concepts = ctx.config.concepts.concepts or None
    kingdom = g.kingdom or None
    if g.dataset and not kingdom:
        from ..datasets import get_manifest

        kingdom = "arc" if get_manifest(g.dataset).kind == "archaeon" else None
    tracks = build(
        genome,
        catalog,
        annotations if g.curated else [],
        concepts=concepts,
        annotate=True if "all" in g.annotate else g.annotate,
        translation_table=g.translation_table or "auto",
        kingdom=kingdom,
        progress=ctx.progress,
    )
    tracks.write(folder / "concepts.h5")
    summary = tracks.summary()
    with atomic_path(folder / "concepts_summary.tsv") as tmp:  # a kill leaves no half a table
        summary.to_csv(tmp, sep="\t", index=False)
    if ctx.config.concepts.bed:
        concept_beds(tracks, folder / "bed")
    ctx.echo(
        f"concepts {g.name}: {genome}; {len(tracks.concepts)} concept tracks -> "
        f"{folder / 'concepts.h5'}"
    )


def _extract(ctx: RunContext, g: GenomeConfig, shard: int | None = None) -> None:
    import time

    from ..acts import ActivationStore, extract, merge

    ex = ctx.config.extract
    genome = ctx.genome(g)[0]
    out = ctx.folder(g) / "activations.h5"
    options = dict(
        strands=ex.strands,
        window=ex.window or None,
        overlap=None if ex.overlap < 0 else ex.overlap,
        min_context=None if ex.min_context < 0 else ex.min_context,
        batch_size=ex.batch_size or None,
        store_dtype=ex.store_dtype,
        progress=ctx.progress,
    )
    model, layer = ctx.model(), ctx.layer()
    started = time.perf_counter()
    if shard is not None:
        path = extract(genome, model, layer, out, shard=(shard, ex.shards), **options)
        ctx.echo(f"extract {g.name}: shard {shard} of {ex.shards} -> {path}")
        return
    if ex.shards > 1:
        parts = [
            extract(genome, model, layer, out, shard=(i, ex.shards), **options)
            for i in range(ex.shards)
        ]
        merge(parts, out, progress=ctx.progress)
        for part in parts:
            part.unlink()
    else:
        extract(genome, model, layer, out, **options)
    write_run_info(ctx.folder(g), model_id=model.model_id, layer=layer)
    with ActivationStore(out) as store:
        rate = store.n_positions / (time.perf_counter() - started)
        ctx.echo(
            f"extract {g.name}: {model.model_id} {layer}: {store.n_positions:,} positions x "
            f"{store.d_model} ({', '.join(store.strands)}; {rate:,.0f}/s) -> {out}"
        )


def _sae(ctx: RunContext, g: None = None) -> None:
    import json

    from .._atomic import atomic_open
    from ..sae import evaluate_sae, train_sae
    from ._state import is_worker

    config = ctx.config
    train = dataclasses.replace(config.sae.train, data=_training_data(ctx))
    result = train_sae(train, ctx.sae_dir, progress=ctx.progress)
    if is_worker() or not result.complete:
        return
    ev = config.sae.evaluate
    for i, genome_config in enumerate(config.aligned_genomes):
        metrics = evaluate_sae(
            ctx.sae_dir,
            ctx.folder(genome_config) / "activations.h5",
            positions=ev.positions,
            model=ctx.model() if ev.windows else None,
            genome=ctx.genome(genome_config)[0] if ev.windows else None,
            windows=ev.windows,
        )
        names = ["eval.json"] if i == 0 else []
        names.append(f"eval.{genome_config.name}.json")
        for name in names:
            with atomic_open(ctx.sae_dir / name) as handle:  # eval.json is read by the report
                json.dump(metrics.summary(), handle, indent=2)
        loss = metrics.loss
        ctx.echo(
            f"sae on {genome_config.name}{' (held out)' if genome_config.heldout else ''}: "
            f"FVU {metrics.fvu:.3f}, L0 {metrics.l0:.1f}, dead {metrics.dead_fraction:.1%}"
            + (f", loss recovered {loss.fraction:.3f}" if loss is not None else "")
        )
    for genome_config in config.aligned_genomes:  # each genome folder sees the shared SAE
        link = ctx.folder(genome_config) / "sae"
        if ctx.folder(genome_config) != ctx.root and not (link.exists() or link.is_symlink()):
            link.symlink_to(Path("..") / ".." / "sae")


def _training_data(ctx: RunContext):
    """The SAE's ``DataConfig``: the training genomes' stores, or (``sae.stream``) the model run
    over the training genomes while it trains."""
    from ..sae import StreamConfig

    config, ex = ctx.config, ctx.config.extract
    data = dataclasses.replace(config.sae.train.data, layer=ctx.layer())
    if not config.sae.stream:
        stores = [str(ctx.folder(t) / "activations.h5") for t in config.training_genomes]
        return dataclasses.replace(data, store=stores[0], stores=stores[1:])
    genomes = [g.dataset or g.sequence for g in config.training_genomes]
    stream = StreamConfig(
        genomes=genomes,
        model=ex.model,
        weights=ex.weights,
        window=ex.window,
        overlap=ex.overlap,
        min_context=ex.min_context,
        strands=list(ex.strands),
        windows_per_forward=ex.batch_size,
        model_dtype="" if ex.dtype == "auto" else ex.dtype,
    )
    return dataclasses.replace(data, source="model", stream=stream)


def _encode(ctx: RunContext, g: GenomeConfig, shard: int | None = None) -> None:
    from ..features import encode, merge

    folder = ctx.folder(g)
    n = ctx.config.encode.shards
    options = dict(tracks=ctx.tracks(g), device=ctx.config.encode.device, progress=ctx.progress)
    store, out = folder / "activations.h5", folder / "features.h5"
    if shard is not None:
        path = encode(store, ctx.sae_dir, out, shard=(shard, n), **options)
        ctx.echo(f"encode {g.name}: shard {shard} of {n} -> {path}")
        return
    if n == 1:
        features = encode(store, ctx.sae_dir, out, **options)
    else:
        parts = [encode(store, ctx.sae_dir, out, shard=(i, n), **options) for i in range(n)]
        features = merge(parts, out)
        for part in parts:
            part.unlink()
    ctx.echo(f"encode {g.name}: {features.d_sae} features -> {out}")
    features.close()


def _align(ctx: RunContext, g: GenomeConfig) -> None:
    from ..align import BlockSplit, align
    from ..features import FeatureActivations

    a = ctx.config.align
    folder = ctx.folder(g)
    tracks = ctx.tracks(g)
    split = BlockSplit(block=a.block)
    features = FeatureActivations(folder / "features.h5")
    result = align(
        features,
        tracks,
        split=split,
        fractions=a.fractions,
        metric=a.metric,
        n_shifts=a.n_shifts,
        max_tests=a.max_tests or None,
        min_effect=a.min_effect,
        progress=ctx.progress,
    )
    result.write(folder / "alignment")
    best = result.concepts.sort_values("single_test_element_f1", ascending=False).head(5)
    ctx.echo(
        f"align {g.name}: {features.d_sae} features x {len(tracks.concepts)} concepts -> "
        f"{folder / 'alignment'}; best: "
        + ", ".join(
            f"{r.concept} {r.single_test_element_f1:.2f}" for r in best.itertuples(index=False)
        )
    )
    if a.baselines:
        _baselines(ctx, g, split, tracks)


def _baselines(ctx: RunContext, g: GenomeConfig, split, tracks) -> None:
    """Best single neuron and a logistic probe per concept, aligned like the SAE features."""
    from ..acts import ActivationStore
    from ..align import align, neurons, probe

    a = ctx.config.align
    folder = ctx.folder(g) / "baselines"
    settings = dict(n_shifts=a.n_shifts, candidates=1, min_effect=2.0, progress=ctx.progress)
    with ActivationStore(ctx.folder(g) / "activations.h5") as store:
        layer = store.layers[0]
        align(neurons(store, layer), tracks, split=split, **settings).write(folder / "neurons")
        probes = probe(store, layer, tracks, split)
        align(probes, tracks, split=split, own_feature=True, **settings).write(folder / "probe")
    ctx.echo(f"align {g.name}: baselines (best neuron, linear probe per concept) -> {folder}")


def _rank(ctx: RunContext, g: GenomeConfig) -> None:
    from ..align import Alignment
    from ..datasets import motif_file
    from ..features import FeatureActivations
    from ..rank import RankSettings, rank
    from ..sae import load_sae

    folder = ctx.folder(g)
    r = ctx.config.rank
    sae, _ = load_sae(ctx.sae_dir)
    catalog = rank(
        Alignment.read(folder / "alignment"),
        FeatureActivations(folder / "features.h5"),
        ctx.genome(g)[0],
        ctx.tracks(g),
        settings=RankSettings(known_f1=r.known_f1, alpha=r.alpha),
        motifs=motif_file(r.motifs),
        decoder=sae.W_dec.detach().numpy(),
        progress=ctx.progress,
    )
    catalog.write(folder / "catalog")
    # known concepts come from the per-concept tests, which every run makes; the feature
    # counts say how many per-feature tests were run (align.max_tests caps them)
    ctx.echo(
        f"rank {g.name}: -> {folder / 'catalog'} (catalog.h5ad, TSVs, logos); {catalog.summary()}"
    )


def _export(ctx: RunContext, g: GenomeConfig) -> None:
    from ..export import export_run

    e = ctx.config.export
    exported = export_run(
        ctx.folder(g),
        n_known=e.n_known,
        n_novel=e.n_novel,
        contig_names=e.contig_names,
        progress=ctx.progress,
    )
    ctx.echo(
        f"export {g.name}: {len(exported.features)} features ({exported.n_bytes / 1e6:,.0f} MB) "
        f"-> {exported.folder} (BED, bigBed, bigWig, IGV session, UCSC hub)"
    )


def _report(ctx: RunContext, g: GenomeConfig) -> None:
    folder = ctx.folder(g)
    if ctx.config.report.viewer:
        from ..view import write_viewer

        write_viewer(folder)
    if ctx.config.report.report:
        from ..report import write_report

        path = write_report(folder)
        ctx.echo(f"report {g.name}: {path}")


def _section(name: str, *drop: str):
    def settings(ctx: RunContext, g) -> dict:
        value = dataclasses.asdict(getattr(ctx.config, name))
        for key in drop:
            value.pop(key, None)
        return value

    return settings


def _extract_settings(ctx: RunContext, g) -> dict:
    values = _section("extract", "shards", "device")(ctx, g)
    return values | {"genome": g and genome_identity(g, sequence_only=True), "layer": ctx.layer()}


def _sae_settings(ctx: RunContext, g) -> dict:
    values = dataclasses.asdict(ctx.config.sae)
    for key in ("device", "log_every", "eval_every", "checkpoint_every", "loss_windows"):
        values["train"].pop(key, None)  # they change the log, not the weights
    values["genomes"] = [(x.name, x.heldout, x.align) for x in ctx.config.genomes]
    if ctx.config.sae.stream:  # what the model reads instead of the stores
        values["stream"] = {
            "extract": _extract_settings(ctx, None) | {"genome": None},
            "genomes": [genome_identity(x, True) for x in ctx.config.training_genomes],
        }
    return values


def _rank_settings(ctx: RunContext, g) -> dict:
    motifs = ctx.config.rank.motifs
    identity = _checksum(motifs) if motifs and Path(motifs).is_file() else motifs
    return _section("rank")(ctx, g) | {"motifs": identity}


def _concept_settings(ctx: RunContext, g) -> dict:
    return _section("concepts")(ctx, g) | {"genome": genome_identity(g)}


def _outputs(*names: str):
    def outputs(ctx: RunContext, g) -> list[Path]:
        folder = ctx.folder(g) if g is not None else ctx.root
        return [folder / name for name in names]

    return outputs


def _concept_outputs(ctx: RunContext, g) -> list[Path]:
    names = ["concepts.h5", "concepts_summary.tsv"] + (["bed"] if ctx.config.concepts.bed else [])
    return _outputs(*names)(ctx, g)


def _align_outputs(ctx: RunContext, g) -> list[Path]:
    names = ["alignment"] + (["baselines"] if ctx.config.align.baselines else [])
    return _outputs(*names)(ctx, g)


def _report_outputs(ctx: RunContext, g) -> list[Path]:
    r = ctx.config.report
    names = (["viewer"] if r.viewer else []) + (["report"] if r.report else [])
    return _outputs(*names)(ctx, g)


STAGE_LIST = (
    Stage("concepts", _concept_outputs, (), _concept_settings, _concepts, optional=("bed",)),
    Stage(
        "extract",
        _outputs("activations.h5"),
        (),
        _extract_settings,
        _extract,
        scratch=("activations.h5.partial",),
    ),
    Stage(
        "sae",
        lambda ctx, g: [ctx.sae_dir],
        ("extract",),
        _sae_settings,
        _sae,
        per_genome=False,
    ),
    Stage(
        "encode",
        _outputs("features.h5"),
        ("concepts", "extract", "sae"),
        _section("encode", "shards", "device"),
        _encode,
        scratch=("features.h5.partial",),
    ),
    Stage(
        "align",
        _align_outputs,
        ("concepts", "encode"),
        _section("align"),
        _align,
        optional=("baselines",),
    ),
    Stage(
        "rank", _outputs("catalog"), ("concepts", "sae", "encode", "align"), _rank_settings, _rank
    ),
    Stage("export", _outputs("tracks"), ("rank",), _section("export"), _export),
    Stage(
        "report",
        _report_outputs,
        ("export", "rank"),
        _section("report"),
        _report,
        optional=("viewer", "report"),
    ),
)
STAGE_BY_NAME = {s.name: s for s in STAGE_LIST}


def clean(ctx: RunContext, stage: Stage, g: GenomeConfig | None) -> None:
    """Remove a stage's outputs and partial files before it runs again on other settings."""
    paths = list(stage.outputs(ctx, g))
    folder = ctx.folder(g) if g is not None else ctx.root
    for pattern in stage.scratch + stage.optional:
        paths.extend(folder.glob(pattern))
    for path in paths:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
