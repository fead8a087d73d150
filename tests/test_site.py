"""The offline docs site: every notebook in the sidebar becomes a page with the same navigation; figures render in chromium."""
import os, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
from build_docs import build_site, sidebar, execute  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

@pytest.mark.timeout(600)
def test_site_pages_navigation_and_figures(tmp_path):
    nbs = [nb for _, group in sidebar() for nb in group]
    executed_dir = Path(os.environ.get("FASTDISTILL_EXECUTED_DIR", tmp_path/"executed"))
    executed = {nb: executed_dir/nb for nb in nbs if (executed_dir/nb).exists()}  # from test_notebooks, when it ran first
    fig_nb = "nbs/methods/lit.ipynb"
    if fig_nb not in executed: executed.update(execute([fig_nb], tmp_path/"executed"))
    pages = build_site(tmp_path/"site", executed)
    assert len(pages) == len(nbs) and all(p.exists() for p in pages)
    for p in pages:
        text = p.read_text()
        assert text.count("class='fd-nav-link'") == len(nbs), p  # the same navigation on every page
    lit = tmp_path/"site"/"nbs"/"methods"/"lit.html"
    assert "plotly" in lit.read_text() and "plotly-graph-div" in lit.read_text()
    if not Path(CHROMIUM).exists(): pytest.skip("Debian chromium is not installed; the pages were built and checked as text")
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.skip("playwright is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = b.new_page(viewport={"width": 1300, "height": 900})
        page.goto(lit.as_uri())
        page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)  # plotly.js ran offline and drew the figure
        page.screenshot(path=str(tmp_path/"lit-page.png"))
        page.locator("a.fd-nav-link", has_text="Born-Again").first.click()
        page.wait_for_load_state()
        assert page.url.endswith("nbs/methods/born_again.html")
        b.close()
