"""A real browser: JupyterLab on 127.0.0.1, Debian chromium driven by Playwright, the explorer notebook run and clicked."""
import json, os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.mark.timeout(1200)
def test_explorer_in_jupyterlab_with_chromium(tmp_path):
    if not Path(CHROMIUM).exists(): pytest.skip("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")
    try: from playwright.sync_api import sync_playwright
    except ImportError: pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    # the quick text2sql teacher, trained here (one thread, ZOO_THREADS['quick']) if this session has not yet: the lab kernel only loads it
    from fastdistill.zoo import get_teacher
    zoo = get_teacher("text2sql", profile="quick", progress=False)
    # the explorer notebook, its run stored where this test can read it back
    store_dir, nb_dir = tmp_path/"store", tmp_path/"lab"
    nb_dir.mkdir()
    nb = json.loads((ROOT/"nbs"/"06_explore.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = [re.sub(r"^artifacts_dir(: [^=]+)? = None", f"artifacts_dir = {str(store_dir)!r}", l) for l in cell["source"]]
    cell["source"] = [re.sub(r"^limit(: int)? = \d+", "limit = 12", l) for l in cell["source"]]
    (nb_dir/"explore.ipynb").write_text(json.dumps(nb))
    port, token = _free_port(), "fd-test-token"
    log = open(tmp_path/"jupyterlab.log", "w")
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb_dir}", "--ServerApp.open_browser=False",
                            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
                           + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(120):  # bounded: 60 s
            if lab.poll() is not None: pytest.fail("jupyterlab exited: " + (tmp_path/"jupyterlab.log").read_text()[-2000:])
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1).status == 200: break
            except OSError: time.sleep(0.5)
        else: pytest.fail("jupyterlab did not answer in 60 s")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/explore.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=120_000)  # the kernel has started
            for attempt in range(2):  # Run → Run All Cells (once more if the first click came before the menu was live)
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:
                    page.wait_for_selector(".fd-explorer", timeout=240_000 if attempt else 150_000); break
                except Exception:
                    page.screenshot(path=str(tmp_path/f"waiting-{attempt}.png"), full_page=True)
                    if attempt: raise
            from fastdistill.artifacts import ArtifactStore
            from fastdistill.explore import ComparisonWidget, Explorer, RunComparison, sample_label
            ex = Explorer("explore-demo", ArtifactStore(store_dir), tokenizer=zoo.tokenizer)
            listed = page.locator(".fd-explorer .widget-select select")
            # keyboard: click a sample, press ↓, and the next one is shown, with its first candidate's decoded tokens
            first = ex.sample_table(stage=ex.stages[-1])
            has_logprobs = set(ex.candidates.index[ex.candidates["logprobs_available"] == True])  # noqa: E712
            with_tokens = [ex.sample(s)["candidates"][0]["gen_id"] in has_logprobs for s in first["sample_id"]]
            k = next(i for i in range(1, len(first)) if with_tokens[i])
            listed.locator("option").nth(k - 1).click()
            page.wait_for_selector(f".fd-explorer .fd-sample h4:has-text('{first['sample_id'][k - 1][:16]}')", timeout=30_000)
            listed.press("ArrowDown")  # focus the list, then the arrow key
            page.wait_for_selector(f".fd-explorer .fd-sample h4:has-text('{first['sample_id'][k][:16]}')", timeout=30_000)
            tokens = page.locator(".fd-explorer .fd-tokens").first
            try: tokens.wait_for(timeout=60_000)
            except Exception: page.screenshot(path=str(tmp_path/"no-tokens.png"), full_page=True); print(tmp_path); raise
            token_text = tokens.inner_text()
            page.screenshot(path=str(tmp_path/"tokens.png"), full_page=True)
            # filters: the list shows each matching question with its status
            keep = page.locator(".fd-explorer .widget-dropdown", has=page.locator("label", has_text=re.compile(r"^keep$"))).locator("select")
            stage = page.locator(".fd-explorer .widget-dropdown", has=page.locator("label", has_text=re.compile(r"^stage$"))).locator("select")
            stage.select_option("exec_gate")
            keep.click()
            keep.select_option("rejected")
            page.wait_for_function("el => el.textContent.includes('match')", arg=page.locator(".fd-explorer .fd-count, .fd-explorer .fd-empty").first.element_handle(), timeout=30_000)
            time.sleep(1.0)  # let the comm round trip settle
            shown = [t.replace("\xa0", " ") for t in listed.locator("option").all_inner_texts()]  # the widget's spaces
            page.screenshot(path=str(tmp_path/"explorer.png"), full_page=True)
            # two runs compared: choosing a sample shows each run's candidates in its own column
            cw = ComparisonWidget(RunComparison("explore-demo", "explore-cool", ArtifactStore(store_dir)))
            pick = cw.samples.options[0][1]
            compare = page.locator(".fd-compare .widget-select select")
            compare.scroll_into_view_if_needed()
            compare.locator("option").first.click()
            page.wait_for_selector(".fd-compare .fd-compare-sample", timeout=30_000)
            cols = {tag: " ".join(page.locator(f".fd-compare .fd-run-{tag}").inner_text().split()) for tag in "AB"}
            page.locator(".fd-compare").first.screenshot(path=str(tmp_path/"compare.png"))
            browser.close()
        assert token_text.strip() and "Ġ" not in token_text, token_text  # byte-level pieces read as text
        tt = ex.token_table(ex.sample(first["sample_id"][k])["candidates"][0]["gen_id"])
        assert any("Ġ" in p for p in tt["piece"])  # … although the stored pieces carry the marker
        table = ex.sample_table(stage="exec_gate", keep="rejected")
        expected = [sample_label(r) for r in table.to_dict("records")]
        assert shown == expected, (shown, expected)  # each line: status mark, the question's text, the reason
        assert all(q in line for q, line in zip(table["question"], shown))
        both = cw.cmp.sample(pick)
        for tag in "AB":
            assert both[tag] is not None and cols[tag]
            for c in both[tag]["candidates"]:
                text = " ".join(str(c["clean_text"] or c["text"] or "").split())
                assert text in cols[tag], (tag, text, cols[tag][:500])
        for name in ("explorer.png", "tokens.png", "compare.png"): assert (tmp_path/name).stat().st_size > 10_000
        print(f"screenshots: {tmp_path}")
    finally:
        try: os.killpg(lab.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: lab.wait(20)
        except subprocess.TimeoutExpired: os.killpg(lab.pid, signal.SIGKILL); lab.wait()
        log.close()
