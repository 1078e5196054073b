"""HTML of the report: plain templates, every value escaped, no script or file from the network."""

from __future__ import annotations

import datetime as dt
import math
from html import escape
from pathlib import Path

import pandas as pd

from ..names import CLASS_LABELS

SITES_SHOWN = 5  # top sites listed per feature
MEMBERS_SHOWN = 12  # family members named on a card
FIGURE_CAPTIONS = {
    "geometry": "One known family's sites in the layer's first two principal axes, coloured "
    "by codon position (or in and outside the family's concept); X marks each label's "
    "centroid. The title gives the called shape (cycle, clusters, line or diffuse) and the "
    "label separation (silhouette; 0.25 or more counts as separated); geometry.tsv has the "
    "numbers.",
    "tracks": "Activations of the best known features along a region, with the annotation "
    "under them.",
    "heatmap": "Held-out element-F1 of the best features (columns) for each concept (rows).",
    "baselines": "Best SAE feature against the best single neuron and the linear probe, "
    "per concept (held-out element-F1).",
    "feature_map": "UMAP of the features' decoder directions, coloured by class.",
}
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, col) => {
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0];
    const rows = Array.from(body.rows);
    const up = th.dataset.dir !== "asc";
    th.dataset.dir = up ? "asc" : "desc";
    const key = r => { const t = r.cells[col].dataset.v ?? r.cells[col].textContent;
                       const n = parseFloat(t); return isNaN(n) ? t : n; };
    rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1));
    rows.forEach(r => body.appendChild(r));
  });
});
"""


def render(data, version: str) -> str:
    """The whole page for a :class:`~genointerp.report.ReportData`."""
    title = f"genointerp report: {escape(_genome_name(data.run))}"
    body = "\n".join(
        [
            f"<header><h1>{title}</h1><p class='meta'>genointerp {escape(version)}, "
            f"{dt.date.today().isoformat()}</p>{_toc()}</header>",
            _run_section(data),
            _concept_section(data),
            _figure_section(data),
            _feature_section(data, "known", data.known),
            _feature_section(data, "candidates", data.candidates),
            _footer(data),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title>"
        "<link rel='stylesheet' href='assets/report.css'></head>\n"
        f"<body><main>{body}</main><script>{SORT_SCRIPT}</script></body></html>\n"
    )


def _toc() -> str:
    items = [
        ("run", "Run"),
        ("concepts", "Concepts"),
        ("plots", "Plots"),
        ("known", "Known families"),
        ("candidates", "Candidate families"),
    ]
    return "<nav>" + " ".join(f"<a href='#{i}'>{t}</a>" for i, t in items) + "</nav>"


def _genome_name(run: dict) -> str:
    if run.get("dataset"):
        return str(run["dataset"])
    return Path(run["genome"]).name if run.get("genome") else "run"


def _run_section(data) -> str:
    run, sae = data.run, data.sae
    contigs = run.get("contigs", {})
    rows = [
        ("genome", _genome_name(run)),
        ("contigs", f"{len(contigs):,} ({sum(contigs.values()):,} bp)" if contigs else "-"),
        ("strands", ", ".join(run.get("strands", [])) or "-"),
        ("model", run.get("model_id", "-")),
        ("layer", run.get("layer", "-")),
        ("SAE", _sae_line(sae)),
    ]
    metrics = sae.get("eval", {})
    for key, label, fmt in (
        ("fvu", "held-out FVU", "{:.3f}"),
        ("l0", "L0 (features per position)", "{:.1f}"),
        ("dead_fraction", "dead features", "{:.1%}"),
        ("loss_recovered", "DNA-model loss recovered", "{:.3f}"),
    ):
        if key in metrics:
            rows.append((label, fmt.format(metrics[key])))
    classes = ", ".join(f"{CLASS_LABELS[c]} {data.classes.get(c, 0):,}" for c in CLASS_LABELS)
    rows.append(("features by class", classes))
    if data.summary is not None:
        rows.append(("summary", str(data.summary)))
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<section id='run'><h2>Run</h2><table class='kv'>{table}</table></section>"


def _sae_line(sae: dict) -> str:
    if not sae:
        return "-"
    parts = [str(sae.get("architecture", "?")), f"{sae.get('d_sae') or 0:,} features"]
    if sae.get("architecture") in ("topk", "batchtopk") and sae.get("k"):
        parts.append(f"k={sae['k']}")
    if sae.get("tokens"):
        parts.append(f"trained on {sae['tokens']:,} positions")
    return ", ".join(parts)


def _concept_section(data) -> str:
    empty = data.concepts.get("elements_test", pd.Series(1, index=data.concepts.index)) == 0
    table = data.concepts[~empty]
    shown = set(data.known["feature"]) | set(data.candidates["feature"])
    columns = [
        ("concept", "concept"),
        ("elements_test", "test elements"),
        ("single_feature", "best feature"),
        ("single_test_element_f1", "element-F1"),
        ("single_test_precision", "precision"),
        ("single_test_auroc", "AUROC"),
        ("single_q_value", "q"),
        ("set_features", "feature set"),
        ("set_test_element_f1", "set element-F1"),
        ("set_q_value", "set q"),
        ("neurons_element_f1", "best neuron"),
        ("probe_element_f1", "probe"),
    ]
    columns = [(k, label) for k, label in columns if k in table.columns]
    head = "".join(f"<th title='click to sort'>{escape(label)}</th>" for _, label in columns)
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for key, _ in columns:
            value = record[key]
            if key == "single_feature" and _is_number(value) and int(value) in shown:
                text = f"<a href='#f{int(value)}'>{int(value)}</a>"
            else:
                text = escape(_fmt(value))
            cells.append(f"<td data-v='{escape(_sort_key(value))}'>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = (
        "Each concept's best single SAE feature and best union of up to three, with thresholds "
        "chosen on validation blocks and scores on held-out test blocks; q: Benjamini-Hochberg "
        "over circular-shift p-values (blank where not tested)."
    )
    if empty.any():
        absent = ", ".join(data.concepts.loc[empty, "concept"])
        note += f" Not shown, with no elements on the test blocks: {absent}."
    if "neurons_element_f1" not in table.columns:
        note += (
            " Neuron and probe baselines were not run for this report (they are read from "
            "RUN/baselines/neurons and RUN/baselines/probe: see "
            "'genointerp align --neurons/--probe')."
        )
    return (
        f"<section id='concepts'><h2>Concepts</h2><p class='note'>{escape(note)}</p>"
        f"<table class='sortable data'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _figure_section(data) -> str:
    if not data.figures:
        return (
            "<section id='plots'><h2>Plots</h2><p class='note'>No plots were drawn.</p></section>"
        )
    items = []
    for name, path in data.figures.items():
        caption = FIGURE_CAPTIONS.get(name, name.replace("_", " "))
        items.append(
            f"<figure><a href='{escape(path)}'><img src='{escape(path)}' alt='{escape(name)}'>"
            f"</a><figcaption>{escape(caption)}</figcaption></figure>"
        )
    return (
        f"<section id='plots'><h2>Plots</h2><div class='figures'>{''.join(items)}</div></section>"
    )


FAMILY_NOTE = (
    " A family is a group of features that fire at the same positions (co-firing phi, "
    "Leiden); each is shown through its best member."
)


def _feature_section(data, anchor: str, table: pd.DataFrame) -> str:
    by_family = data.families is not None
    if anchor == "known":
        title = "Known families" if by_family else "Known features"
        intro = "Held-out element-F1 with their best concept at or above the cut-off, significant."
    else:
        title = "Candidate families" if by_family else "Candidate novel features"
        intro = (
            "Structured, reproducible features that match no annotated concept, by novelty "
            "score (reproducibility x motif information x (1 - best element-F1))."
        )
    if table.empty:
        none = "<p class='note'>None in this run.</p>"
        return f"<section id='{anchor}'><h2>{title}</h2>{none}</section>"
    overview = ""
    if by_family:
        intro += FAMILY_NOTE
        cls = "known" if anchor == "known" else "candidate_novel"
        mine = data.families[data.families["class"] == cls]
        overview = ""
        if cls == "known" and data.known_concepts is not None:
            overview = _concepts_by_family(data.known_concepts, set(table["feature"]))
        overview += _family_list(mine.head(len(table)))
        title += f" ({len(mine):,}; {len(table)} shown)"
    cards = "".join(_feature_card(data, row) for row in table.to_dict("records"))
    return (
        f"<section id='{anchor}'><h2>{title}</h2><p class='note'>{escape(intro)}</p>"
        f"{overview}<div class='cards'>{cards}</div></section>"
    )


def _concepts_by_family(by_concept: pd.DataFrame, shown: set) -> str:
    """One row per concept: its known features, their families, and its best feature."""
    rows = []
    for r in by_concept.to_dict("records"):
        rows.append(
            "<tr>"
            f"<td>{escape(str(r['concept']))}</td><td>{r['families']:,}</td>"
            f"<td>{r['known_features']:,}</td><td>{r['features']:,}</td>"
            f"<td>{_feature_link(r['best_feature'], shown)} (family {r['best_family']}, "
            f"{r['best_family_size']} features)</td>"
            f"<td>{escape(_fmt(r['test_element_f1']))}</td></tr>"
        )
    head = (
        "<tr><th>concept</th><th>families</th><th>known features</th><th>features in them</th>"
        "<th>best known feature</th><th>element-F1</th></tr>"
    )
    return (
        "<h3>Known features by concept</h3><table class='data families'>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _family_list(families: pd.DataFrame) -> str:
    """The families shown: size, members per class and best member, best first."""
    rows = []
    for r in families.to_dict("records"):
        score = r["test_element_f1"] if r["class"] == "known" else r["novelty"]
        rows.append(
            f"<tr><td>{int(r['family'])}</td><td>{int(r['size'])}</td>"
            f"<td>{escape(_members(r))}</td><td><a href='#f{int(r['best_feature'])}'>"
            f"{int(r['best_feature'])}</a></td><td>{escape(str(r['best_concept']))}</td>"
            f"<td>{escape(_fmt(score))}</td><td>{escape(_fmt(r.get('mean_phi')))}</td></tr>"
        )
    score = "element-F1" if families["class"].eq("known").all() else "novelty"
    head = (
        "<tr><th>family</th><th>size</th><th>members by class</th><th>best member</th>"
        f"<th>best concept</th><th>{score}</th><th>mean co-firing</th></tr>"
    )
    return (
        "<h3>Families shown</h3><table class='data families'>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _members(row: dict) -> str:
    counts = [(c, row.get(f"n_{c}", 0)) for c in ("known", "candidate_novel", "uncharacterised")]
    counts.append(("dense", row.get("n_dense", 0)))
    return ", ".join(f"{int(n)} {CLASS_LABELS[c]}" for c, n in counts if n)


def _feature_link(feature, shown: set) -> str:
    if int(feature) in shown:
        return f"<a href='#f{int(feature)}'>{int(feature)}</a>"
    return str(int(feature))


MOTIF_Q = 0.05  # an attribution core whose closest motif has q at most this matches it


def _intervention_facts(row: dict) -> list[tuple[str, str]]:
    """Label, ablation, steering, attribution and seed-stability evidence, when the catalog
    has them (``genointerp intervene ablate|steer|attribute``, ``genointerp match
    --catalog``, ``genointerp label``)."""
    facts = []
    if isinstance(row.get("label"), str) and row["label"]:
        score = row.get("label_score")
        scored = f" (simulation r = {_fmt(score)})" if _is_number(score) else ""
        facts.append(("label", row["label"] + scored))
    for fact, prefix, how, against in (
        ("ablation", "ablation_", "", "features of its density"),
        (
            "family ablation",
            "ablation_family_",
            " with its whole family ablated",
            "random groups of its size",
        ),
    ):
        if _is_number(row.get(f"{prefix}selectivity")):
            text = (
                f"{_fmt(row[f'{prefix}selectivity'])} bits/nt more loss at "
                f"{row.get(f'{prefix}concept')} than elsewhere{how} (z = "
                f"{_fmt(row.get(f'{prefix}z'))}, p = {_fmt(row.get(f'{prefix}p'))} "
                f"against {against})"
            )
            facts.append((fact, text))
    if isinstance(row.get("steering_measure"), str):
        facts.append(
            (
                "steering",
                f"{row.get('steering_edit', 'steered')}: {row['steering_measure']} "
                f"{_fmt(row.get('steering_unsteered'))} unsteered, changed by "
                f"{_signed(row.get('steering_effect'))} (dose-response rho = "
                f"{_fmt(row.get('steering_rho'))}, paired p = {_fmt(row.get('steering_p_value'))})"
                "; other features' activity changed "
                f"{_fmt(row.get('steering_others_change'))} (noise "
                f"{_fmt(row.get('steering_others_noise'))})",
            )
        )
    if isinstance(row.get("attribution_core"), str):
        share = row.get("attribution_share")
        sites = row.get("attribution_sites")
        core, start = row["attribution_core"], int(row["attribution_offset"])
        text = (
            f"{core} at {start} to {start + len(core) - 1} nt from the site, in "
            f"{round(share * sites)} of {int(sites)} sites"
        )
        if isinstance(row.get("attribution_match"), str):
            q = row.get("attribution_q")
            known = _is_number(q) and q <= MOTIF_Q
            text += "; matches " if known else "; no known motif (closest "
            text += f"{row['attribution_match']}, q = {_fmt(q)}" + ("" if known else ")")
        facts.append(("bases that drive it", text))
    if _is_number(row.get("seed_correlation")):
        r = _fmt(row["seed_correlation"])
        if bool(row.get("seed_stable")):
            text = f"recurs in an SAE of another seed (feature {int(row['seed_match'])}, r = {r})"
        else:
            text = f"no counterpart in an SAE of another seed (best r = {r}): possibly noise"
        facts.append(("seed stability", text))
    return facts


def _feature_card(data, row: dict) -> str:
    feature = int(row["feature"])
    facts = [
        ("best concept", row.get("best_concept")),
        ("held-out element-F1", row.get("test_element_f1")),
        ("precision", row.get("test_precision")),
        ("q", row.get("q_value")),
        ("density", row.get("density")),
        ("shape", row.get("shape")),
        ("motif information (bits)", row.get("motif_ic")),
        ("reproducibility", row.get("reproducibility")),
    ]
    if row.get("class") == "candidate_novel":
        facts.insert(0, ("novelty", row.get("novelty")))
    if isinstance(row.get("family_members"), str) and _is_number(row.get("family_size")):
        members = row["family_members"].split(",")
        more = f" and {len(members) - MEMBERS_SHOWN} more" if len(members) > MEMBERS_SHOWN else ""
        facts.append(("family members", ", ".join(members[:MEMBERS_SHOWN]) + more))
    if row.get("known_by") == "motif":  # a candidate whose logo matches a known motif
        match = f"{row.get('motif_match')} (TOMTOM q = {_fmt(row.get('motif_q'))})"
        facts.insert(1, ("known by its logo matching", match))
    if isinstance(row.get("jaspar_id"), str):
        facts.append(
            (
                "closest JASPAR motif",
                f"{row['jaspar_id']} {row.get('jaspar_name', '')} "
                f"(q = {_fmt(row.get('jaspar_q'))})",
            )
        )
    facts += _intervention_facts(row)
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(_fmt(v))}</dd>" for k, v in facts)
    logo = f"assets/logos/feature_{feature}.png"
    links = ""
    if data.viewer:
        links = (
            f"<a class='viewer' href='{escape(data.viewer)}?features={feature}'>open in the "
            "genome viewer</a>"
        )
    heading = f"feature {feature}"
    if _is_number(row.get("family_size")):
        size = int(row["family_size"])
        heading += f" · family {int(row['family'])} ({size} feature{'s' if size > 1 else ''})"
    attribution = ""
    if feature in data.attributions:
        attribution = (
            f"<img class='logo' src='assets/attribution/feature_{feature}.png' "
            f"alt='attribution logo of feature {feature}' title='which bases drive it: mean "
            "attribution at its top sites (above the line: raise it; below: lower it)'>"
        )
    return (
        f"<article class='card' id='f{feature}'><h3>{escape(heading)}</h3>{attribution}"
        f"<img class='logo' src='{logo}' alt='logo of feature {feature}' "
        f"onerror=\"this.style.display='none'\"><dl>{dl}</dl>"
        f"{_sites_table(data.sites, feature)}{links}</article>"
    )


def _sites_table(sites: pd.DataFrame, feature: int) -> str:
    mine = sites[sites["feature"] == feature].sort_values("activation", ascending=False)
    if mine.empty:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(r['contig']))}:{int(r['position']) + 1:,}</td>"
        f"<td>{escape(str(r['strand']))}</td><td>{r['activation']:.3g}</td>"
        f"<td class='seq'>{_context(str(r['context']))}</td></tr>"
        for r in mine.head(SITES_SHOWN).to_dict("records")
    )
    return (
        "<table class='sites'><thead><tr><th>top site</th><th>strand</th><th>activation</th>"
        f"<th>context (5'-3' of the pass)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _context(context: str) -> str:
    middle = len(context) // 2
    return (
        f"{escape(context[:middle])}<b>{escape(context[middle])}</b>{escape(context[middle + 1 :])}"
    )


def _footer(data) -> str:
    viewer = (
        "Open the genome viewer with <code>genointerp view RUN_DIR</code> (igv.js reads the "
        "tracks over HTTP, so the viewer needs that local server; this report does not)."
    )
    return f"<footer><p>{viewer}</p></footer>"


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def _signed(value) -> str:
    return f"{value:+.3g}" if _is_number(value) else _fmt(value)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _sort_key(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)
