"""Make the pictures of docs/outputs.md from a run folder (the E. coli demo by default).

    python docs/make_screenshots.py genointerp_demo

Writes docs/img/tracks.png (gi.pl's track plot), docs/img/viewer.png and
docs/img/viewer_feature.png (the viewer in headless Chromium, before and after clicking
the best known feature) and docs/img/report.png (the top of the HTML report, opened from
file://).  Exports the tracks and writes the viewer and report first when the run lacks them.
Needs Chromium (apt-get install chromium) and Playwright's Python client.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import genointerp as gi

IMG = Path(__file__).parent / "img"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, nargs="?", default=Path("genointerp_demo"))
    parser.add_argument("--out", type=Path, default=IMG, help=f"folder (default {IMG})")
    args = parser.parse_args()
    run, out = args.run, args.out
    out.mkdir(parents=True, exist_ok=True)
    if not (run / "tracks" / "tracks.json").is_file():
        gi.export.export_run(run, progress=True)
    if not (run / "report" / "index.html").is_file():
        gi.report.write_report(run)
    with tempfile.TemporaryDirectory() as scratch:
        figures = gi.pl.write_figures(run, scratch, embed=False)
        shutil.copyfile(figures["tracks"], out / "tracks.png")
    gi.view.screenshot_run(run, out)
    report_screenshot(run / "report" / "index.html", out / "report.png")
    for name in ("tracks.png", "viewer.png", "viewer_feature.png", "report.png"):
        print(out / name)


def report_screenshot(index: Path, png: Path, size=(1300, 1500)) -> None:
    from playwright.sync_api import sync_playwright

    chromium = gi.view.find_chromium()
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(index.resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(png))
        browser.close()


if __name__ == "__main__":
    main()
