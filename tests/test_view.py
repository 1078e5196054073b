"""The viewer: its data, its Range-capable server, and the page itself in headless Chromium."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

import genointerp as gi
from genointerp.errors import GenointerpError
from genointerp.view import parse_range, serve, viewer_data, write_viewer

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def viewer_run(small_run, tmp_path_factory) -> Path:
    """A copy of the small run with exported tracks and the viewer written."""
    import shutil

    run = tmp_path_factory.mktemp("viewer") / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("activations.h5"))
    # known and candidate-novel features; all of them (the small run is one family, and
    # the tests switch between features)
    gi.export.export_run(run, per_family=False)
    exported = {t["feature"] for t in _index(run)["tracks"] if t["group"] == "feature"}
    assert _planted(run) in exported
    write_viewer(run)
    return run


@pytest.fixture(scope="module")
def served(viewer_run):
    server, url = serve(viewer_run, background=True)
    yield url
    server.shutdown()
    server.server_close()


def _planted(run: Path) -> int:
    return json.loads((run / "run.json").read_text())["planted_feature"]


def _index(run: Path) -> dict:
    return json.loads((run / "tracks" / "tracks.json").read_text())


def _get(url: str, headers: dict | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 - a local test server
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


# -- the Range server ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 1)),
        ("bytes=5-", 10, (5, 5)),
        ("bytes=-3", 10, (7, 3)),
        ("bytes=-30", 10, (0, 10)),
        ("bytes=8-100", 10, (8, 2)),
        ("bytes=10-", 10, "unsatisfiable"),
        ("bytes=10-12", 10, "unsatisfiable"),
        ("bytes=-0", 10, "unsatisfiable"),
        ("bytes=0-", 0, "unsatisfiable"),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-1", 10, None),
        (None, 10, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


def test_range_server_returns_the_file_slices(served, viewer_run):
    base = served.rsplit("/viewer/", 1)[0]
    index = _index(viewer_run)
    bigwig = next(t["path"] for t in index["tracks"] if t["format"] == "bigwig")
    for relative in (bigwig, index["genome"]["fasta"]):
        data = (viewer_run / "tracks" / relative).read_bytes()
        url = f"{base}/tracks/{relative}"
        status, headers, body = _get(url)
        assert (status, body, headers["Accept-Ranges"]) == (200, data, "bytes")
        rng = np.random.default_rng(1)
        for a in rng.integers(0, len(data), 8):
            b = int(min(len(data) - 1, a + rng.integers(0, 5000)))
            status, headers, body = _get(url, {"Range": f"bytes={a}-{b}"})
            assert status == 206
            assert body == data[a : b + 1]
            assert headers["Content-Range"] == f"bytes {a}-{b}/{len(data)}"
            assert int(headers["Content-Length"]) == b - a + 1
        status, headers, body = _get(url, {"Range": "bytes=-100"})
        assert (status, body) == (206, data[-100:])
        status, headers, body = _get(url, {"Range": f"bytes={len(data) - 7}-"})
        assert (status, body) == (206, data[-7:])
        status, headers, body = _get(url, {"Range": f"bytes={len(data)}-{len(data) + 10}"})
        assert (status, headers["Content-Range"], body) == (416, f"bytes */{len(data)}", b"")
        status, headers, body = _get(url, {"Range": "bytes=0-1,5-9"})
        assert (status, body) == (200, data)
        status, headers, body = _get(url, {"Range": "bytes=3-9"}, method="HEAD")
        assert (status, headers["Content-Length"], body) == (206, "7", b"")


def test_range_server_stays_inside_the_run_folder(served):
    parts = urlsplit(served)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/hostname")
    response = connection.getresponse()
    assert response.status == 404
    connection.close()


def test_serve_says_when_the_port_is_busy(viewer_run, served):
    port = urlsplit(served).port
    with pytest.raises(GenointerpError, match=f"cannot listen on 127.0.0.1:{port}"):
        serve(viewer_run, port=port)


# -- the page's data and assets --------------------------------------------------------------


def test_viewer_data_is_the_catalog(viewer_run):
    data = viewer_data(viewer_run)
    table = pd.DataFrame(data["rows"], columns=data["columns"])
    catalog = pd.read_csv(viewer_run / "catalog" / "catalog.tsv", sep="\t")
    assert table["feature"].tolist() == catalog["feature"].tolist()
    assert table["class"].tolist() == catalog["class"].tolist()
    for column in ("test_element_f1", "q_value", "density", "novelty"):
        shown = table[column].to_numpy(dtype=float)
        np.testing.assert_allclose(shown, catalog[column].to_numpy(dtype=float), rtol=1e-3)
    best = catalog["best_concept"].iloc[0]
    assert table["enrich_best"].iloc[0] == pytest.approx(catalog[f"enrich_{best}"].iloc[0], 1e-3)
    exported = {t["feature"] for t in _index(viewer_run)["tracks"] if t["group"] == "feature"}
    assert set(table.loc[table["tracks"], "feature"]) == exported
    # sites: the catalog's strongest, strongest first
    planted = _planted(viewer_run)
    sites = pd.read_csv(viewer_run / "catalog" / "top_sites.tsv", sep="\t")
    mine = sites[sites["feature"] == planted].sort_values("activation", ascending=False)
    listed = data["sites"][str(planted)]
    assert len(listed) == min(10, len(mine))
    assert [s[1] for s in listed] == mine["position"].head(len(listed)).tolist()
    assert [s[5] for s in listed] == mine["context"].head(len(listed)).tolist()
    logos = sorted((viewer_run / "catalog" / "logos").glob("feature_*.png"))
    assert len(logos) > 0
    assert data["logos"] == {p.stem[8:]: f"../catalog/logos/{p.name}" for p in logos}
    viewer = viewer_run / "viewer"
    for url in [t["url"] for t in data["tracks"]] + [data["genome"]["fastaURL"]]:
        assert (viewer / url).resolve().is_file(), url


def test_viewer_data_errors_name_the_fix(run_copy):
    with pytest.raises(GenointerpError, match="genointerp export"):
        viewer_data(run_copy)
    (run_copy / "tracks").mkdir()
    index = {"format": "genointerp-tracks", "version": "0.1.0"}
    index["genome"] = {"fasta": "g.fa", "fai": "g.fa.fai"}
    (run_copy / "tracks" / "tracks.json").write_text(json.dumps(index))
    with pytest.raises(GenointerpError, match=r"tracks/g\.fa\. Fix: run 'genointerp export"):
        viewer_data(run_copy)


def test_write_viewer_is_self_contained(viewer_run):
    from importlib import resources

    viewer = viewer_run / "viewer"
    html = (viewer / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"igv.min.js", "data.js", "viewer.js", "viewer.css"} <= set(links)
    for link in links:
        assert link.startswith("data:") or (viewer / link).is_file(), link
    for name in ("index.html", "viewer.js", "viewer.css"):
        assert "http://" not in (viewer / name).read_text()
        assert "https://" not in (viewer / name).read_text()
    bundle = resources.files("igv_notebook") / "js" / "igv.min.js"
    assert (viewer / "igv.min.js").read_bytes() == bundle.read_bytes()
    assert "MIT License" in (viewer / "IGV_LICENSE.txt").read_text()
    text = (viewer / "data.js").read_text()
    prefix = "window.GENOINTERP_DATA = "
    assert text.startswith(prefix)
    assert json.loads(text[len(prefix) :].rstrip().rstrip(";")) == viewer_data(viewer_run)


# -- the page in headless Chromium -----------------------------------------------------------


def _open(chromium, url: str):
    """A page at ``url``, ready; problems (console errors, page errors, remote requests)."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    local = url.split("/viewer/")[0]

    def route(r):
        if r.request.url.startswith(local) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.append(f"remote request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    page.wait_for_function("window.genointerpReady === true", timeout=60_000)
    return page, problems


def _track_names(page) -> list[str]:
    return page.evaluate("window.genointerp.browser.trackViews.map(v => v.track.name)")


def _locus(page) -> tuple[str, int, int]:
    contig, span = page.evaluate("window.genointerp.browser.currentLoci()").rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    return contig, start, end


def test_viewer_loads_tracks_and_table_and_jumps(chromium, served, viewer_run, tmp_path):
    import pyBigWig

    index = _index(viewer_run)
    planted = _planted(viewer_run)
    page, problems = _open(chromium, served)
    initial = [t["name"] for t in index["tracks"] if t["group"] in ("annotation", "feature_set")]
    assert set(initial) <= set(_track_names(page))
    # the table: the known and candidate-novel features, best held-out F1 first
    catalog = pd.read_csv(viewer_run / "catalog" / "catalog.tsv", sep="\t")
    focus = catalog[catalog["class"].isin(["known", "candidate_novel"])]
    assert len(focus) > 0
    order = focus.sort_values(["test_element_f1", "feature"], ascending=[False, True])
    rows = page.locator("#gi-table tbody tr[data-feature]")
    shown = [int(x) for x in rows.evaluate_all("rs => rs.map(r => r.dataset.feature)")]
    assert shown == order["feature"].head(50).tolist()
    before = _locus(page)
    # click the planted feature: its evidence, its tracks, its strongest site
    page.fill("#gi-search", str(planted))
    assert rows.count() == 1
    rows.first.click()
    page.wait_for_function(f"window.genointerp.selected === {planted} && window.genointerp.idle")
    assert page.inner_text("#gi-evidence h2") == f"Feature {planted}"
    site = viewer_data(viewer_run)["sites"][str(planted)][0]
    contig, start, end = _locus(page)
    assert (contig, start, end) != before
    assert contig == site[0] and start <= site[1] + 1 <= end
    mine = [t for t in index["tracks"] if t["feature"] == planted]
    assert {t["name"] for t in mine if t["format"] == "bigwig"} <= set(_track_names(page))
    # igv.js shows the bigWig's values (read here with pyBigWig)
    plus = next(t for t in mine if t["format"] == "bigwig" and t["strand"] == "+")
    got = page.evaluate(
        """async ([name, contig, start, end]) => {
          const view = window.genointerp.browser.trackViews.find(v => v.track.name === name);
          const features = await view.track.getFeatures(contig, start, end, 1);
          return features.map(f => [f.start, f.end, f.value]);
        }""",
        [plus["name"], contig, start - 1, end],
    )
    with pyBigWig.open(str(viewer_run / "tracks" / plus["path"])) as bw:
        expected = bw.intervals(contig, start - 1, end) or ()
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6)
    page.screenshot(path=str(tmp_path / "viewer.png"))
    assert (tmp_path / "viewer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the next feature's tracks replace these
    other = next(t for t in index["tracks"] if t["group"] == "feature" and t["feature"] != planted)
    page.evaluate(f"window.genointerp.select({other['feature']})")
    page.wait_for_function(f"window.genointerp.selected === {other['feature']}")
    page.wait_for_function("window.genointerp.idle")
    names = set(_track_names(page))
    assert other["name"] in names
    assert not {t["name"] for t in mine} & names
    assert problems == []
    page.close()


def test_explorer_sorts_and_filters(chromium, served, viewer_run):
    catalog = pd.read_csv(viewer_run / "catalog" / "catalog.tsv", sep="\t")
    shown = catalog[catalog["class"].isin(["known", "candidate_novel"])]
    page, problems = _open(chromium, served)

    def first() -> int:
        return int(
            page.locator("#gi-table tbody tr[data-feature]").first.get_attribute("data-feature")
        )

    def count() -> int:
        text = page.inner_text("#gi-count")
        assert text.endswith(f" of {len(catalog)} features")
        return int(text.split()[0])

    page.click("#gi-table th[data-key=density]")
    assert first() == shown.loc[shown["density"].idxmax(), "feature"]
    page.click("#gi-table th[data-key=density]")
    assert first() == shown.loc[shown["density"].idxmin(), "feature"]
    concept = shown["best_concept"].value_counts().index[-1]
    page.fill("#gi-search", concept)
    assert count() == int(shown["best_concept"].str.contains(concept).sum())
    page.fill("#gi-search", "")
    page.click(".gi-chip[data-class=known]")  # off
    assert count() == int((catalog["class"] == "candidate_novel").sum())
    for cls in set(catalog["class"]) - {"candidate_novel"}:
        page.click(f".gi-chip[data-class={cls}]")  # on: every class shown
    assert count() == len(catalog)
    page.check("#gi-tracks-only")
    exported = {t["feature"] for t in _index(viewer_run)["tracks"] if t["group"] == "feature"}
    assert count() == len(exported)
    assert problems == []
    page.close()


def test_viewer_follows_url_parameters(chromium, served, viewer_run):
    planted = _planted(viewer_run)
    contig = _index(viewer_run)["genome"]["contigs"][0]["name"]
    page, problems = _open(
        chromium, f"{served}?locus={contig}:1001-1200&features={planted}&explorer=0"
    )
    assert _locus(page) == (contig, 1001, 1200)
    assert page.evaluate("window.genointerp.selected") == planted
    names = [t["name"] for t in _index(viewer_run)["tracks"] if t["feature"] == planted]
    assert set(names) & set(_track_names(page))
    assert not page.locator("#gi-explorer").is_visible()
    assert problems == []
    page.close()


def test_viewer_from_a_file_url_says_it_needs_the_server(chromium, viewer_run):
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto((viewer_run / "viewer" / "index.html").as_uri())
    page.wait_for_function("window.genointerpReady === true", timeout=60_000)
    assert "genointerp view RUN_DIR" in page.inner_text("#gi-igv")
    assert page.locator("#gi-table tbody tr[data-feature]").count() > 0
    assert problems == []
    page.close()


def test_screenshot_functions_write_pngs(chromium, served, viewer_run, tmp_path):
    from PIL import Image

    # a separate process: Playwright's sync API runs once per thread, and `chromium` holds it
    script = (
        "import sys, genointerp.view as v; "
        "v.screenshot(sys.argv[1], sys.argv[2] + '/shot.png', click_feature=int(sys.argv[3]), "
        "size=(900, 700)); "
        "v.screenshot_run(sys.argv[4], sys.argv[2], size=(1000, 800))"
    )
    planted = str(_planted(viewer_run))
    subprocess.run(
        [sys.executable, "-c", script, served, str(tmp_path), planted, str(viewer_run)],
        check=True, timeout=300,
    )  # fmt: skip
    shapes = {}
    for name in ("shot.png", "viewer.png", "viewer_feature.png"):
        image = np.asarray(Image.open(tmp_path / name).convert("L"))
        assert image.std() > 10, name  # drawn, not blank
        shapes[name] = image.shape
    assert shapes == {"shot.png": (700, 900), "viewer.png": (800, 1000),
                      "viewer_feature.png": (800, 1000)}  # fmt: skip
    before = np.asarray(Image.open(tmp_path / "viewer.png").convert("L"))
    after = np.asarray(Image.open(tmp_path / "viewer_feature.png").convert("L"))
    assert (before != after).mean() > 0.05  # the click changed the page


# -- the command line and the notebook -------------------------------------------------------


def test_cli_view_serves_until_interrupted(viewer_run):
    process = subprocess.Popen(
        [sys.executable, "-m", "genointerp", "view", str(viewer_run), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as in a terminal, even when the suite itself runs with SIGINT ignored
        # (a background job of a non-interactive shell), which the child would inherit
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        url = None
        for line in process.stdout:
            if "http://" in line:
                url = line.strip()
                break
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/viewer/index\.html", url)
        status, _, body = _get(url)
        assert status == 200 and b"igv.min.js" in body
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
        assert process.returncode == 0 and "stopped" in out
    finally:
        if process.poll() is None:
            process.kill()


def test_cli_view_no_write_needs_a_viewer(run_copy, capsys):
    from genointerp.cli import main

    assert main(["view", str(run_copy), "--no-write"]) == 1
    assert "no viewer page to serve. Fix: run without --no-write" in capsys.readouterr().err


def test_pl_browser_frames_the_served_viewer(viewer_run):
    from genointerp.pl._browser import _close_all, browser

    planted = _planted(viewer_run)
    try:
        frame = browser(viewer_run, locus="chrA:101-300", features=[planted], height=420)
        src = urlsplit(frame.src)
        assert src.path == "/viewer/index.html"
        assert src.query == f"locus=chrA:101-300&features={planted}&explorer=0"
        assert frame.height == 420
        status, _, body = _get(frame.src)
        assert status == 200 and b"viewer.js" in body
        again = browser(viewer_run, explorer=True)
        assert urlsplit(again.src).port == src.port and urlsplit(again.src).query == ""
        proxied = browser(viewer_run, url_prefix="/user/me/proxy/{port}/")
        assert proxied.src.startswith(f"/user/me/proxy/{src.port}/viewer/index.html?")
    finally:
        _close_all()
