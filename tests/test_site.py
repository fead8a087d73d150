"""The docs site (tools/build_docs.py): nbdev-processed pages with sidebar, contents, API reference and offline search,
checked as text on every page and in chromium as a reader would use it."""
import functools, html, http.server, json, os, re, shutil, sys, threading, time
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
from build_docs import build_site, execute, math_to_mathml, prepare, sidebar  # noqa: E402

pytestmark = pytest.mark.xdist_group("site")  # its module fixtures train once, on one worker

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SEARCHED = ["distill_divergence", "reproduce", "get_encoder", "StageWriter"]  # exported names from four rooms


def visible_text(page_html: str) -> str:
    "What a reader sees of a page: scripts, styles and tags removed."
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def sidebar_links(page: Path, site: Path) -> list:
    "The sidebar's links of a built page, resolved to files of the site."
    aside = re.search(r"<aside class='fd-sidebar'.*?</aside>", page.read_text(), re.S).group(0)
    return [(page.parent/h).resolve() for h in re.findall(r"href='([^']+)'", aside)]


def test_cell_options_are_applied_and_no_directive_survives():
    book = {"cells": [
        {"cell_type": "raw", "metadata": {}, "source": "---\ntitle: T\noutput-file: t.html\n---"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 1,
         "source": "#| echo: false\n#| output: asis\nprint('x')"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 2, "source": "#| include: false\nsecret = 1"},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": "#| export\ny = 2",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "## Some `md`\n"}]},
        {"cell_type": "markdown", "metadata": {}, "source": "see [the losses](10_losses.ipynb#kd) and [x](other.ipynb)"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = prepare(book, "nbs/t.ipynb", {"nbs/t.ipynb": "nbs/t.html", "nbs/10_losses.ipynb": "nbs/losses.html"})
    assert [c["cell_type"] for c in out["cells"]] == ["code", "code", "markdown"]  # front matter and include: false gone
    assert out["cells"][0]["metadata"]["tags"] == ["fd-no-input"] and out["cells"][0]["source"] == "print('x')"
    assert out["cells"][1]["source"] == "y = 2" and out["cells"][1]["outputs"][0]["output_type"] == "stream"
    assert out["cells"][2]["source"] == "see [the losses](losses.html#kd) and [x](other.ipynb)"  # unknown: left alone
    assert not any("#|" in "".join(c["source"]) for c in out["cells"])


def test_math_becomes_mathml_outside_code_only():
    page = "<head><script src=\"https://cdn.example/mathjax.js\"></script></head><body><p>$x^2$ and $$\\sum_i a_i$$</p>" \
           "<p>$\\big\\lVert s(x) \\big\\rVert^2$</p>" \
           "<pre>echo $HOME $PATH</pre><code>$a$</code></body>"
    out = math_to_mathml(page)
    assert out.count("<math") == 3 and "display=\"block\"" in out and "lVert" not in out  # sized bars drawn too
    assert "<pre>echo $HOME $PATH</pre>" in out and "<code>$a$</code>" in out and "cdn.example" not in out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The whole site, from the notebooks test_notebooks executed this session (any it did not are run here)."
    tmp = tmp_path_factory.mktemp("site")
    nbs = [nb for _, group in sidebar() for nb in group]
    executed_dir = Path(os.environ.get("FASTDISTILL_EXECUTED_DIR", tmp/"executed"))
    executed = {nb: executed_dir/nb for nb in nbs if (executed_dir/nb).exists()}
    needed = [nb for nb in ("nbs/methods/lit.ipynb", "nbs/99_api.ipynb") if nb not in executed]  # a figure; the index
    executed.update(execute(needed, tmp/"executed"))
    t0 = time.perf_counter()
    pages = build_site(tmp/"site", executed)
    (tmp/"build.json").write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 1), "pages": len(pages),
                                              "executed": len(executed)}))
    return tmp/"site", pages, nbs


def test_every_page_is_built_with_sidebar_and_no_directive(site):
    out, pages, nbs = site
    assert len(pages) == len(nbs) and all(p.exists() for p in pages)
    assert (out/"nbs"/"losses.html").exists() and (out/"nbs"/"api.html").exists()  # nbdev's output-file names
    for p in pages:
        text = p.read_text()
        assert "#|" not in visible_text(text), p  # no directive reaches a reader
        assert text.count("class='fd-nav-link") == len(nbs), p  # the whole sidebar on every page
        assert text.count("aria-current='page'") == 1, p  # the current page is marked
        dead = [str(link) for link in sidebar_links(p, out) if not link.exists()]
        assert not dead, (p, dead)
        assert "https://cdnjs" not in text and "https://unpkg" not in text, p  # nothing loaded from a CDN
    losses = (out/"nbs"/"losses.html").read_text()
    assert "id=\"distill_divergence\"" in losses and "class='fd-toc'" in losses  # reference anchors and contents
    assert "rel='prev'" in losses and "rel='next'" in losses


def test_site_in_chromium_navigation_figures_search_and_reference(site, tmp_path):
    out, pages, nbs = site
    if not Path(CHROMIUM).exists(): pytest.skip("Debian chromium is not installed; the pages were checked as text")
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.skip("playwright is not installed")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    shots = Path(os.environ.get("FASTDISTILL_SCREENSHOTS_DIR", tmp_path))
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "index.html")
            page.wait_for_selector("#fd-search input", timeout=30_000)  # Pagefind's UI loaded offline
            page.screenshot(path=str(shots/"site-home.png"))
            # the sidebar leads to a method page whose plotly figure draws offline
            page.locator("a.fd-nav-link", has_text="LIT").first.click()
            page.wait_for_url(re.compile(r"nbs/methods/lit\.html$"))
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
            assert "#|" not in page.inner_text("body")
            page.screenshot(path=str(shots/"site-method.png"))
            # searching an exported name finds its reference entry; following the result lands on it
            for name in SEARCHED:
                hits = page.evaluate("""async ([name, base]) => { const pf = await import(base + 'pagefind/pagefind.js');
                    const r = await pf.search(name); const all = await Promise.all(r.results.map(x => x.data()));
                    return all.flatMap(d => d.sub_results.map(s => s.url)); }""", [name, base])
                assert any(u.split("#")[-1] == name.lower() for u in hits), (name, hits[:10])
            page.fill("#fd-search input", "distill_divergence")
            result = page.locator(".pagefind-ui__result-nested a[href$='#distill_divergence']").first
            result.wait_for(timeout=30_000)
            result.click()
            page.wait_for_url(re.compile(r"nbs/losses\.html#distill_divergence$"))
            assert page.locator("#distill_divergence").is_visible()
            page.screenshot(path=str(shots/"site-api-entry.png"))
            # the API index lists every public name, each linking to a page of the site
            page.goto(base + "nbs/api.html")
            links = page.eval_on_selector_all("main a code", "els => els.map(e => e.parentElement.href)")
            assert len(links) >= 300, len(links)
            assert all(u.startswith(base) for u in links), [u for u in links if not u.startswith(base)][:5]
            b.close()
    finally:
        server.shutdown()
        server.server_close()


def test_pages_workflow_builds_with_quarto_and_falls_back_to_the_offline_site():
    wf = yaml.safe_load((ROOT/".github"/"workflows"/"deploy.yaml").read_text())
    steps = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "nbdev-proc-nbs" in runs and "quarto render" in runs and "tools/build_docs.py" in runs
    assert any("deploy-pages" in s.get("uses", "") for s in steps)
    triggers = wf.get(True) or wf.get("on")  # YAML 1.1 reads a bare `on:` key as True
    assert "main" in triggers["push"]["branches"] and "workflow_dispatch" in triggers


def test_building_the_site_leaves_this_process_alone(site):
    "nbdev's processors run in a child process, so the taps' attention capture still works here after a build."
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    from fastdistill.distiller import run_signals
    m = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=32))
    batch = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    sig = run_signals(m, batch, {"attn_scores@0"}, "student")
    assert tuple(sig["student.attn_scores@0"].shape[-2:]) == (3, 3)
