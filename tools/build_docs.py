"""Build the documentation site without Quarto, from what nbdev's docs processing makes of the notebooks.

    python tools/build_docs.py --execute --out _site_html   # run every notebook (quick profile), then build
    python tools/build_docs.py --out _site_html             # build from the notebooks' stored outputs
    python tools/build_docs.py --executed DIR --out _site    # build from executed copies (e.g. the test suite's)

Each notebook of `_quarto.yml`'s sidebar goes through nbdev's own processors (`FilterDefaults`, the ones
`nbdev-proc-nbs` applies: hidden cells dropped, exported code replaced by executed `show_doc` reference cells, front
matter read), then nbconvert turns it into HTML. Quarto's cell options (`#| echo: false`, `#| output: asis`,
`#| include: false`) are honoured and removed, so no `#|` line reaches a page. Pages are written where nbdev's
`output-file` puts them (`nbs/10_losses.ipynb` -> `nbs/losses.html`), so nbdev's cross-reference links resolve; the site
URL of `settings` is rewritten to relative links. Every page gets the sidebar (sections and order of `_quarto.yml`, the
current page marked), a table of contents, previous/next links and Pagefind's offline search (`pip install
pagefind[bin]`); plotly figures carry plotly.js inline (`fastdistill.core.setup_plotly`), so nothing loads from a CDN.
"""
from __future__ import annotations
import argparse, contextlib, copy, html, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parent.parent
ALWAYS_EXECUTE = ["nbs/99_api.ipynb"]  # the API index: its stored copy has no outputs
DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def sidebar(root: Path = ROOT) -> list:
    "[(section or None, [notebook paths])] in the order of _quarto.yml's sidebar."
    side = yaml.safe_load((root/"_quarto.yml").read_text())["website"]["sidebar"]["contents"]
    out = []
    for item in side:
        if isinstance(item, str): out.append((None, [item]))
        else: out.append((item.get("section"), list(item.get("contents", []))))
    return out


def site_url(root: Path = ROOT) -> str:
    "The published site's base URL, as nbdev writes it into cross-reference links (doc_host + doc_baseurl)."
    import tomllib
    nbdev = tomllib.loads((root/"pyproject.toml").read_text()).get("tool", {}).get("nbdev", {})
    host, base = nbdev.get("doc_host"), nbdev.get("doc_baseurl")
    if not host:  # nbdev's defaults, as _modidx records them
        from fastdistill._modidx import d
        host, base = d["settings"]["doc_host"], d["settings"]["doc_baseurl"]
    return host.rstrip("/") + "/" + (base or "").strip("/") + "/"


def execute(notebooks: list, workdir: Path, root: Path = ROOT) -> dict:
    "Run each notebook with papermill (quick profile) into workdir; returns {notebook: executed path}."
    import papermill as pm
    out = {}
    for nb in notebooks:
        src, dst = root/nb, workdir/nb
        dst.parent.mkdir(parents=True, exist_ok=True)
        print(f"executing {nb}", file=sys.stderr, flush=True)
        pm.execute_notebook(str(src), str(dst), cwd=str(src.parent), kernel_name="python3", progress_bar=False)
        out[nb] = dst
    return out


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try: yield
    finally: os.chdir(old)


def process(nb: str, source: Path, root: Path = ROOT) -> dict:
    "The notebook after nbdev's docs processors (as `nbdev-proc-nbs` runs them), papermill's injected cell removed."
    from fastcore.nbio import nb2str, read_nb
    from nbdev.processors import FilterDefaults
    book = read_nb(source)
    book.cells = [c for c in book.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    os.environ["IN_TEST"] = "1"  # what nbdev's docs driver sets while it executes show_doc cells
    try:
        with _cwd(root/Path(nb).parent): FilterDefaults()(book)
    finally: os.environ.pop("IN_TEST", None)
    return json.loads(nb2str(book))


def process_all(order: list, sources: dict, root: Path = ROOT) -> dict:
    """`process` for every notebook, in a child process: nbdev's processors execute the notebooks' exported cells, which
    would re-define module state (the attention function the taps register, its context variable) in the caller."""
    with tempfile.TemporaryDirectory() as tmp:
        items = [[nb, str(sources[nb]), str(Path(tmp)/f"{i}.json")] for i, nb in enumerate(order)]
        (Path(tmp)/"spec.json").write_text(json.dumps({"root": str(root), "items": items}))
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--process-spec", str(Path(tmp)/"spec.json")],
                       check=True)
        return {nb: json.loads(Path(out).read_text()) for nb, _, out in items}


def _process_spec(path: str):
    spec = json.loads(Path(path).read_text())
    for nb, src, out in spec["items"]:
        t1 = time.perf_counter()
        Path(out).write_text(json.dumps(process(nb, Path(src), Path(spec["root"]))))
        print(f"processed {nb} in {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)


def front_matter(book: dict) -> dict:
    "The YAML front matter nbdev's FrontmatterProc puts in the first raw cell (title, description, output-file)."
    for c in book["cells"]:
        if c["cell_type"] == "raw":
            src = "".join(c["source"]).strip()
            if src.startswith("---"): return yaml.safe_load(src.strip("-\n")) or {}
    return {}


def page_path(nb: str, book: dict) -> str:
    "Where nbdev puts a notebook's page: its folder plus the front matter's output-file."
    out = front_matter(book).get("output-file") or Path(nb).stem + ".html"
    folder = str(Path(nb).parent)
    return out if folder == "." else f"{folder}/{out}"


def _options(source: str) -> tuple[dict, str]:
    "Quarto cell options (`#| key: value` lines) and the source without any `#|` line."
    opts, keep = {}, []
    for line in source.splitlines():
        m = DIRECTIVE.match(line)
        if m: opts[m.group(1)] = m.group(2).strip().strip("'\"").lower()
        else: keep.append(line)
    return opts, "\n".join(keep).strip("\n")


_PANDOC_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}")
_DOC_HEADING = re.compile(r"^(#{2,4}) +([\w.]+) *$", re.M)


def _clean_markdown(md: str) -> str:
    "Pandoc-only syntax in show_doc output made plain: attribute blocks after links, and anchors on API headings."
    md = _PANDOC_LINK.sub(lambda m: f'<a class="fd-source" href="{html.escape(m.group(2))}">{html.escape(m.group(1))}</a>',
                          md)
    return _DOC_HEADING.sub(lambda m: f'<h{len(m.group(1))} id="{m.group(2).lower()}" class="fd-api-name">'
                                      f'{m.group(2)}</h{len(m.group(1))}>', md)


def _relink(text: str, here: str, pages: dict) -> str:
    "Links to notebooks (`x.ipynb`) point at their pages, relative to the page at `here`."
    base = Path(here).parent
    def sub(m):
        target = os.path.normpath(base/m.group(2)) if not m.group(2).startswith("/") else m.group(2).lstrip("/")
        if target not in pages: return m.group(0)
        return m.group(1) + os.path.relpath(pages[target], Path(pages[here]).parent) + (m.group(3) or "")
    return re.sub(r'((?:href="|\]\())([^")#:]+\.ipynb)(#[^")]*)?', sub, text)


_CELL_KEYS = {"code": {"cell_type", "execution_count", "id", "metadata", "outputs", "source"},
              "markdown": {"cell_type", "id", "metadata", "source", "attachments"},
              "raw": {"cell_type", "id", "metadata", "source", "attachments"}}


def prepare(book: dict, nb: str, pages: dict) -> dict:
    "Cell options applied, directives removed, show_doc markdown cleaned, notebook links pointed at pages."
    book = copy.deepcopy(book)
    cells = []
    for c in book["cells"]:
        if c["cell_type"] == "raw" and "".join(c["source"]).lstrip().startswith("---"): continue  # front matter
        if c["cell_type"] == "markdown":
            text = "".join(c["source"])
            if "<!-- WARNING: THIS FILE WAS AUTOGENERATED!" in text and len(text.strip()) < 70: continue
            c["source"] = _relink(text, nb, pages)
        if c["cell_type"] == "code":
            opts, c["source"] = _options("".join(c["source"]))
            if opts.get("include") == "false": continue
            c["metadata"] = {k: v for k, v in c.get("metadata", {}).items() if k in ("tags", "collapsed", "scrolled")}
            tags = c["metadata"].setdefault("tags", [])
            if opts.get("echo") == "false" or not c["source"].strip(): tags.append("fd-no-input")
            if opts.get("output") == "false": c["outputs"] = []
            if opts.get("output") == "asis":  # printed markdown is page text, as Quarto treats it
                c["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {"text/markdown": o["text"]}}
                                if o["output_type"] == "stream" and o.get("name") == "stdout" else o
                                for o in c.get("outputs", [])]
            for o in c.get("outputs", []):
                data = o.get("data", {})
                if "text/markdown" in data:
                    data["text/markdown"] = _relink(_clean_markdown("".join(data["text/markdown"])), nb, pages)
                    data.pop("text/plain", None)
        cells.append({k: v for k, v in c.items() if k in _CELL_KEYS[c["cell_type"]]})  # nbdev's own keys dropped
    book["cells"] = cells
    return book


def _exporter():
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config
    cfg = Config()
    cfg.TagRemovePreprocessor.remove_input_tags = {"fd-no-input"}
    cfg.TagRemovePreprocessor.enabled = True
    ex = HTMLExporter(template_name="lab", config=cfg, exclude_input_prompt=True, exclude_output_prompt=True)
    ex.register_preprocessor(TagRemovePreprocessor(config=cfg), enabled=True)
    return ex


_RAW = re.compile(r"(<(pre|code|script|style|textarea|svg)\b.*?</\2>)", re.S | re.I)
_DISPLAY, _INLINE = re.compile(r"\$\$(.+?)\$\$", re.S), re.compile(r"(?<![\\$\w])\$(?![\s$])([^$<>]+?)(?<![\s\\])\$(?!\w)")


def math_to_mathml(body: str) -> str:
    """TeX between `$`/`$$` in the prose turned into MathML (which browsers draw without a script), outside code,
    scripts and figures; a formula latex2mathml cannot read stays as text. The CDN scripts of nbconvert's template
    (MathJax, require.js) are removed: the site loads nothing from the network."""
    from latex2mathml.converter import convert
    def one(tex, display):
        tex = html.unescape(tex).strip()
        tex = re.sub(r"\\[bB]igg?[lr]?(?![a-zA-Z])", "", tex)  # sizing commands latex2mathml does not combine
        try: return convert(tex, display="block" if display else "inline")
        except Exception: return None
    def prose(seg):
        seg = _DISPLAY.sub(lambda m: one(m.group(1), True) or m.group(0), seg)
        return _INLINE.sub(lambda m: one(m.group(1), False) or m.group(0), seg)
    body = re.sub(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>', "", body)
    body = re.sub(r"<script\b[^>]*>(?:(?!</script>).)*https://(?:cdnjs|unpkg)(?:(?!</script>).)*</script>", "", body, flags=re.S)
    body = re.sub(r'<script type="text/x-mathjax-config">.*?</script>', "", body, flags=re.S)
    head, sep, rest = body.partition("<body")
    parts = _RAW.split(rest)
    out, i = [], 0
    while i < len(parts):  # split() yields prose, then (whole raw block, its tag name) pairs
        out.append(prose(parts[i]))
        if i + 1 < len(parts): out.append(parts[i + 1])
        i += 3
    return head + sep + "".join(out)


_HEAD = re.compile(r"<h([23])[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.S)


def toc(body: str) -> list:
    "[(level, id, text)] of a page's level-2 and level-3 headings, in order."
    out = []
    for level, anchor, inner in _HEAD.findall(body):
        text = html.unescape(re.sub(r"<[^>]+>", "", inner)).replace("¶", "").strip()
        if text: out.append((int(level), anchor, text))
    return out


CSS = """
body { margin: 0 250px 0 280px !important; }
.fd-sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 260px; overflow-y: auto; padding: 12px 10px;
  background: #f7f7f9; border-right: 1px solid #ddd; font: 14px/1.45 system-ui, sans-serif; box-sizing: border-box; }
.fd-sidebar .fd-brand { font-weight: 700; font-size: 18px; display: block; margin: 4px 4px 10px; color: #222;
  text-decoration: none; }
.fd-sidebar .fd-section { font-weight: 600; color: #555; margin: 12px 4px 4px; text-transform: uppercase;
  font-size: 12px; letter-spacing: .04em; }
.fd-sidebar a.fd-nav-link { display: block; padding: 3px 8px; border-radius: 4px; color: #1a4f8b; text-decoration: none; }
.fd-sidebar a.fd-nav-link:hover { background: #e8eef6; }
.fd-sidebar a.fd-current { background: #1a4f8b; color: #fff; font-weight: 600; }
.fd-toc { position: fixed; top: 0; right: 0; width: 230px; bottom: 0; overflow-y: auto; padding: 16px 12px;
  font: 13px/1.4 system-ui, sans-serif; border-left: 1px solid #eee; box-sizing: border-box; }
.fd-toc a { display: block; color: #444; text-decoration: none; padding: 2px 0; }
.fd-toc a.fd-l3 { padding-left: 12px; color: #666; }
.fd-pager { display: flex; justify-content: space-between; margin: 40px 0 60px; font: 15px system-ui, sans-serif; }
.fd-pager a { text-decoration: none; color: #1a4f8b; }
.fd-page-title { font: 700 30px system-ui, sans-serif; margin: 28px 0 4px; }
.fd-page-description { color: #555; font: 17px system-ui, sans-serif; margin: 0 0 16px; }
a.fd-source { float: right; font-size: smaller; }
.fd-api-name { font-family: ui-monospace, monospace; }
#fd-search { margin: 0 2px 8px; }
math { font-size: 1.12em; }
.jp-RenderedHTMLCommon pre { background: #f6f6f8; padding: 8px 10px; border-radius: 4px; }
"""


PLOTLY_JS = "_static/plotly.min.js"


def copy_static(out: Path):
    "plotly.js from the installed plotly package, once for the site, for pages whose notebook did not embed it."
    import plotly
    dst = out/PLOTLY_JS
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(plotly.__file__).parent/"package_data"/"plotly.min.js", dst)


def _sidebar_html(sections: list, here: str, pages: dict, titles: dict, up: str) -> str:
    parts = [f"<aside class='fd-sidebar' data-pagefind-ignore='all'><a class='fd-brand' href='{up}index.html'>"
             "FastDistill</a><div id='fd-search'></div>"]
    for sec, nbs in sections:
        if sec: parts.append(f"<div class='fd-section'>{html.escape(sec)}</div>")
        for nb in nbs:
            mark = " fd-current' aria-current='page" if nb == here else ""
            parts.append(f"<a class='fd-nav-link{mark}' href='{up}{pages[nb]}'>{html.escape(titles[nb])}</a>")
    parts.append("</aside>")
    return "".join(parts)


def _page(body: str, nb: str, sections: list, pages: dict, titles: dict, meta: dict, url: str) -> str:
    order = [n for _, nbs in sections for n in nbs]
    up = "../" * pages[nb].count("/")
    body = body.replace(url, up)  # nbdev's absolute cross-reference links, made relative
    i = order.index(nb)
    prev = (f"<a rel='prev' href='{up}{pages[order[i - 1]]}'>← {html.escape(titles[order[i - 1]])}</a>"
            if i else "<span></span>")
    nxt = (f"<a rel='next' href='{up}{pages[order[i + 1]]}'>{html.escape(titles[order[i + 1]])} →</a>"
           if i + 1 < len(order) else "<span></span>")
    entries = "".join(f"<a class='fd-l{lv}' href='#{html.escape(a)}'>{html.escape(t)}</a>" for lv, a, t in toc(body))
    toc_html = (f"<nav class='fd-toc' data-pagefind-ignore='all'><b>On this page</b>{entries}</nav>" if entries else "")
    title = html.escape(meta.get("title") or titles[nb])
    head = (f"<link rel='icon' href='data:,'><link rel='stylesheet' href='{up}pagefind/pagefind-ui.css'>"
            f"<style>{CSS}</style>"
            f"<script src='{up}pagefind/pagefind-ui.js'></script>"
            + (f"<script src='{up}{PLOTLY_JS}'></script>" if "plotly-graph-div" in body and "plotly.js v" not in body
               else ""))
    body = re.sub(r"<title>.*?</title>", f"<title>{title} – FastDistill</title>", body, count=1, flags=re.S)
    body = body.replace("</head>", head + "</head>", 1)
    intro = (f"<h1 class='fd-page-title'>{title}</h1>"
             + (f"<p class='fd-page-description'>{html.escape(meta['description'])}</p>" if meta.get("description")
                else ""))
    body = re.sub(r"<main([^>]*)>", lambda m: f"<main{m.group(1)} data-pagefind-body>{intro}", body, count=1)
    body = body.replace("</main>", f"<nav class='fd-pager' data-pagefind-ignore='all'>{prev}{nxt}</nav></main>", 1)
    search = ("<script>window.addEventListener('DOMContentLoaded', () => { if (window.PagefindUI) "
              "new PagefindUI({element: '#fd-search', showSubResults: true, showImages: false}); });</script>")
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1).replace("<body", f"<body data-fd-page='{html.escape(nb)}'")
                  + _sidebar_html(sections, nb, pages, titles, up) + toc_html, body, count=1)
    return body.replace("</body>", search + "</body>", 1)


def build_site(out: Path, executed: dict | None = None, root: Path = ROOT, only: list | None = None,
               search: bool = True) -> list:
    "Write the site under `out`; `executed` maps notebooks to executed copies (else the sources). Returns the pages."
    t0 = time.perf_counter()
    sections = sidebar(root)
    if only is not None: sections = [(s, [n for n in nbs if n in only]) for s, nbs in sections]
    sections = [(s, nbs) for s, nbs in sections if nbs]
    order = [nb for _, nbs in sections for nb in nbs]
    books = process_all(order, {nb: Path((executed or {}).get(nb, root/nb)) for nb in order}, root)
    pages = {nb: page_path(nb, b) for nb, b in books.items()}
    titles = {nb: front_matter(b).get("title") or Path(nb).stem for nb, b in books.items()}
    if "index.ipynb" in titles: titles["index.ipynb"] = "Home"
    exporter, url, written = _exporter(), site_url(root), []
    import nbformat
    for nb in order:
        t1 = time.perf_counter()
        body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(prepare(books[nb], nb, pages)), as_version=4))
        body = math_to_mathml(body)
        page = out/pages[nb]
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_page(body, nb, sections, pages, titles, front_matter(books[nb]), url))
        written.append(page)
        print(f"wrote {pages[nb]} in {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    copy_static(out)
    if search: index_search(out)
    print(f"{len(written)} pages in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return written


def index_search(out: Path):
    "Pagefind's offline index and UI under out/pagefind (from the `pagefind[bin]` package)."
    r = subprocess.run([sys.executable, "-m", "pagefind", "--site", str(out)], capture_output=True, text=True)
    if r.returncode != 0 or not (out/"pagefind"/"pagefind-ui.js").exists():
        raise RuntimeError(f"pagefind failed (pip install 'pagefind[bin]'):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="_site_html")
    ap.add_argument("--execute", action="store_true", help="run every notebook first (quick profile)")
    ap.add_argument("--executed", help="a folder of executed notebooks laid out like the repository")
    ap.add_argument("--process-spec", help=argparse.SUPPRESS)  # internal: build_site's child process
    a = ap.parse_args()
    if a.process_spec: return _process_spec(a.process_spec)
    out = Path(a.out)
    if out.exists(): shutil.rmtree(out)
    nbs = [nb for _, group in sidebar() for nb in group]
    with tempfile.TemporaryDirectory() as tmp:
        if a.execute: executed = execute(nbs, Path(tmp))
        elif a.executed: executed = {nb: Path(a.executed)/nb for nb in nbs if (Path(a.executed)/nb).exists()}
        else: executed = {}
        # pages computed from the package itself are always current (seconds to run)
        executed.update(execute([nb for nb in ALWAYS_EXECUTE if nb in nbs and nb not in executed], Path(tmp)))
        pages = build_site(out, executed)
    print(f"{len(pages)} pages; open {out/'index.html'} (search needs http: python -m http.server -d {out})")


if __name__ == "__main__": main()
