"""Screenshots of the viewer in headless Chromium (Playwright's Python client).

Playwright drives a Chromium that is already installed (Debian's ``/usr/bin/chromium``,
or the one named by ``GENOINTERP_CHROMIUM``); nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import GenointerpError

logger = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> Path | None:
    """A Chromium executable: ``$GENOINTERP_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on ``PATH`` (``None`` when there is none)."""
    named = os.environ.get("GENOINTERP_CHROMIUM")
    if named:
        return Path(named) if Path(named).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


@contextlib.contextmanager
def open_page(url: str, size: tuple[int, int] = (1400, 1000), timeout: float = 60.0) -> Iterator:
    """A Playwright page at ``url`` once the viewer says it is ready (``window.genointerpReady``).

    Yields ``(page, problems)``: ``problems`` collects console errors and uncaught page
    errors as strings while the page is open.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise GenointerpError(
            "screenshots need Playwright's Python client. Fix: pip install playwright "
            "(its own browser download is not needed: genointerp uses the installed Chromium)"
        ) from err
    chromium = find_chromium()
    if chromium is None:
        raise GenointerpError(
            "no Chromium found for screenshots. Fix: install it (apt-get install chromium) or "
            "set GENOINTERP_CHROMIUM to its executable"
        )
    problems: list[str] = []
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(chromium))
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.goto(url)
            page.wait_for_function("window.genointerpReady === true", timeout=timeout * 1000)
            yield page, problems
        finally:
            browser.close()


def screenshot(
    url: str,
    path: str | Path,
    click_feature: int | None = None,
    *,
    size: tuple[int, int] = (1400, 1000),
    timeout: float = 60.0,
) -> Path:
    """Save a PNG of the viewer page at ``url`` (e.g. from :func:`serve`).

    Parameters
    ----------
    url
        The viewer page, ``http://127.0.0.1:PORT/viewer/index.html`` (query parameters
        such as ``?features=17`` allowed).
    path
        The PNG to write.
    click_feature
        Click this feature's row in the explorer first (its evidence shows, its tracks
        load and the browser jumps to its strongest site).
    size
        Window size in pixels (width, height).
    timeout
        Seconds to wait for the page and its tracks.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> server, url = gi.view.serve("genointerp_demo", background=True)       # doctest: +SKIP
    >>> gi.view.screenshot(url, "viewer.png", click_feature=17)             # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_page(url, size, timeout) as (page, problems):
        if click_feature is not None:
            click(page, click_feature, timeout)
        page.wait_for_timeout(500)  # igv.js paints its canvases after the data arrive
        page.screenshot(path=str(path))
    if problems:
        logger.warning("the viewer reported %d error(s): %s", len(problems), problems[0])
    return path


def screenshot_run(
    run_dir: str | Path,
    folder: str | Path,
    click_feature: int | None = None,
    *,
    size: tuple[int, int] = (1400, 1000),
    timeout: float = 120.0,
) -> tuple[Path, Path]:
    """Write a run's viewer, serve it, and save two PNGs: as it opens, and after a click.

    For documentation: ``folder/viewer.png`` (the page as it opens) and
    ``folder/viewer_feature.png`` (after clicking ``click_feature``, default the first row
    of the explorer: the known feature with the best held-out element-F1).

    Examples
    --------
    >>> gi.view.screenshot_run("genointerp_demo", "docs/img")              # doctest: +SKIP
    (PosixPath('docs/img/viewer.png'), PosixPath('docs/img/viewer_feature.png'))
    """
    from ._server import serve
    from ._write import write_viewer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_viewer(run_dir)
    server, url = serve(run_dir, background=True)
    shots = (folder / "viewer.png", folder / "viewer_feature.png")
    try:
        with open_page(url, size, timeout) as (page, problems):
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots[0]))
            if click_feature is None:
                first = page.locator("#gi-table tbody tr[data-feature]").first
                click_feature = int(first.get_attribute("data-feature"))
            click(page, click_feature, timeout)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots[1]))
    finally:
        server.shutdown()
        server.server_close()
    if problems:
        logger.warning("the viewer reported %d error(s): %s", len(problems), problems[0])
    return shots


def click(page, feature: int, timeout: float = 60.0) -> None:
    """Click ``feature``'s row (filtering the table to it when it is not on the page shown)
    and wait until its tracks are loaded and the browser has jumped."""
    row = page.locator(f'#gi-table tbody tr[data-feature="{int(feature)}"]')
    if row.count() == 0:
        page.fill("#gi-search", str(feature))
        page.evaluate(
            "() => document.querySelectorAll('.gi-chip[aria-pressed=false]')"
            ".forEach(c => c.click())"
        )
    row.click()
    page.wait_for_function(
        f"() => window.genointerp.selected === {int(feature)} && window.genointerp.idle",
        timeout=timeout * 1000,
    )
