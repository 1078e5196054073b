"""The HTML report: its numbers equal the run's files, and it opens in headless Chromium from
file:// with every image loaded, no console error and no request outside its own folder."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import genointerp as gi
from genointerp.cli import main


@pytest.fixture(scope="module")
def report(small_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return gi.report.write_report(small_run, out, n_features=5), small_run


def test_report_tables_equal_the_run_files(report):
    index, run = report
    data = gi.report.collect(run, n_features=5)
    catalog = pd.read_csv(run / "catalog" / "catalog.tsv", sep="\t")
    families = pd.read_csv(run / "catalog" / "families.tsv", sep="\t")
    # one card per family, its best member; families in the table's (reading) order
    for cls, shown in (("known", data.known), ("candidate_novel", data.candidates)):
        mine = families[families["class"] == cls].head(5)
        assert list(shown["feature"]) == list(mine["best_feature"])
        assert list(shown["family_size"]) == list(mine["size"])
    # (every candidate of this run co-fires with a strong CDS match: no candidate family)
    assert len(data.candidates) == min(5, (families["class"] == "candidate_novel").sum())
    assert len(data.known) == min(5, (families["class"] == "known").sum()) > 0
    assert data.classes == catalog["class"].value_counts().to_dict()
    html = index.read_text()
    # each card: held-out element-F1 as the report prints it, and the family's size
    for row in [*data.known.to_dict("records"), *data.candidates.to_dict("records")]:
        card = html.split(f"id='f{row['feature']}'")[1].split("</article>")[0]
        assert f"<dd>{row['test_element_f1']:.3f}".rstrip("0").rstrip(".") in card
        assert row["best_concept"] in card
        size = row["family_size"]
        assert f"family {row['family']} ({size} feature{'s' if size > 1 else ''})" in card
    # the summary line, and the known features by concept with their families
    assert str(data.summary) in html and "known features: " in str(data.summary)
    concepts = html.split("Known features by concept")[1].split("</table>")[0]
    known = catalog[catalog["class"] == "known"]
    size = families.set_index("family")["size"]
    for concept, group in known.groupby("best_concept"):
        row = concepts.split(f"<td>{concept}</td>")[1].split("</tr>")[0]
        members = size[group["family"].unique()].sum()
        counts = f"<td>{group['family'].nunique()}</td><td>{len(group)}</td><td>{members}</td>"
        assert row.startswith(counts)
    concepts = pd.read_csv(run / "alignment" / "concepts.tsv", sep="\t")
    tf = concepts.set_index("concept").loc["tf_binding_site"]
    row = html.split("<td data-v='tf_binding_site'>")[1].split("</tr>")[0]
    assert f">{tf['single_test_element_f1']:.3f}".rstrip("0").rstrip(".") in row
    # concepts with no test elements are named in the note, not listed as rows
    assert "<td data-v='crispr_array'>" not in html and "crispr_array" in html


def test_report_opens_from_file_in_chromium(report, chromium, tmp_path):
    index, _ = report
    page = chromium.new_page(viewport={"width": 1300, "height": 1000})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(index.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    assert all(url.startswith(index.parent.as_uri()) for url in requests), requests
    rows = page.locator("#concepts tbody tr")
    assert rows.count() >= 3
    images = page.locator("img")
    assert images.count() >= 2
    broken = page.evaluate(
        "Array.from(document.images).filter(i => i.style.display !== 'none' && "
        "!(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == []
    # clicking a column header sorts the concept table by it
    page.locator("#concepts th", has_text="element-F1").first.click()
    page.locator("#concepts th", has_text="element-F1").first.click()
    first = page.locator("#concepts tbody tr").first.locator("td").nth(3).inner_text()
    values = [
        float(v)
        for v in page.eval_on_selector_all(
            "#concepts tbody tr td:nth-child(4)", "cells => cells.map(c => c.dataset.v)"
        )
        if v
    ]
    assert float(first) == pytest.approx(max(values), abs=1e-3)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    page.close()


def test_report_cli_and_missing_run_error(small_run, tmp_path, capsys):
    assert main(["report", str(small_run), "-o", str(tmp_path / "r"), "--no-figures"]) == 0
    assert re.search(r"report -> .*index\.html", capsys.readouterr().out)
    assert (tmp_path / "r" / "assets" / "report.css").is_file()
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "no catalog in this run folder" in err and "genointerp rank" in err
    assert not (tmp_path / "empty" / "report" / "index.html").exists()


def test_report_shows_the_neuron_and_probe_baselines(small_run, run_copy):
    with gi.acts.ActivationStore(small_run / "activations.h5") as store:
        tracks = gi.concepts.ConceptTracks.read(run_copy / "concepts.h5")
        split = gi.align.BlockSplit(block=1_500)
        layer = store.layers[0]
        settings = {"split": split, "n_shifts": 20, "candidates": 1, "min_effect": 2.0}
        neurons = gi.align.align(gi.align.neurons(store, layer), tracks, **settings)
        neurons.write(run_copy / "baselines" / "neurons")
        probe = gi.align.probe(store, layer, tracks, split)
        gi.align.align(probe, tracks, own_feature=True, **settings).write(
            run_copy / "baselines" / "probe"
        )
    data = gi.report.collect(run_copy)
    for name in ("neurons", "probe"):
        base = pd.read_csv(run_copy / "baselines" / name / "concepts.tsv", sep="\t")
        expected = base.set_index("concept")["single_test_element_f1"]
        shown = data.concepts.set_index("concept")[f"{name}_element_f1"]
        assert shown.to_dict() == pytest.approx(expected.reindex(shown.index).to_dict())
    html = gi.report.write_report(run_copy, figures=False).read_text()
    assert "best neuron" in html and "probe" in html and "were not run" not in html


def test_report_links_open_the_feature_in_the_viewer(run_copy, chromium):
    gi.export.export_run(run_copy, n_known=5, n_novel=5)
    gi.view.write_viewer(run_copy)
    index = gi.report.write_report(run_copy, figures=False, n_features=5)
    card = index.read_text().split("<article class='card' id='f")[1]
    feature = int(card.split("'")[0])
    server, url = gi.view.serve(run_copy, background=True)  # url: .../viewer/index.html
    try:
        page = chromium.new_page()
        page.goto(url.replace("/viewer/index.html", "/report/index.html"))
        page.locator(f"#f{feature} a.viewer").click()
        page.wait_for_function("window.genointerpReady === true", timeout=60_000)
        page.wait_for_function(f"window.genointerp.selected === {feature}", timeout=60_000)
        page.close()
    finally:
        server.shutdown()
        server.server_close()
