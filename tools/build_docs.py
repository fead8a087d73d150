"""Build a browsable offline HTML site of the notebooks, with the sidebar of `_quarto.yml` (Quarto is not needed).

    python tools/build_docs.py --execute --out _site_html     # run every notebook (quick profile), then convert
    python tools/build_docs.py --out _site_html               # convert the notebooks as stored (their kept text outputs)

Each page is nbconvert's HTML of a notebook with a navigation bar listing every page, in the sidebar's sections and
order; links between notebooks (`.ipynb`) point at their pages. Plotly figures render offline: the notebooks call
`fastdistill.core.setup_plotly()`, which stores plotly.js inline with the first figure of each notebook.
"""
from __future__ import annotations
import argparse, html, re, shutil, sys, tempfile
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parent.parent

def sidebar(root: Path = ROOT) -> list:
    "[(section or None, [notebook paths])] in the order of _quarto.yml's sidebar."
    side = yaml.safe_load((root/"_quarto.yml").read_text())["website"]["sidebar"]["contents"]
    out = []
    for item in side:
        if isinstance(item, str): out.append((None, [item]))
        else: out.append((item.get("section"), list(item.get("contents", []))))
    return out

def _title(nb_path: Path) -> str:
    import nbformat
    nb = nbformat.read(str(nb_path), as_version=4)
    for c in nb.cells:
        if c.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", c.source, re.M)
            if m: return m.group(1).strip()
    return nb_path.stem

def _nav(sections: list, here: str, titles: dict) -> str:
    depth = here.count("/")
    up = "../" * depth
    parts = ["<nav class='fd-nav' style='font-family:sans-serif;font-size:14px;padding:8px 12px;border-bottom:1px solid #ddd;background:#fafafa'>"]
    for sec, nbs in sections:
        if sec: parts.append(f"<b style='margin-left:12px'>{html.escape(sec)}:</b> ")
        for nb in nbs:
            page = nb[:-len(".ipynb")] + ".html"
            style = "font-weight:bold;text-decoration:none" if nb == here else ""
            parts.append(f"<a class='fd-nav-link' href='{up}{page}' style='margin-right:10px;{style}'>{html.escape(titles[nb])}</a>")
    parts.append("</nav>")
    return "".join(parts)

def execute(notebooks: list, workdir: Path) -> dict:
    "Run each notebook with papermill (quick profile) into workdir; returns {notebook: executed path}."
    import papermill as pm
    out = {}
    for nb in notebooks:
        src, dst = ROOT/nb, workdir/nb
        dst.parent.mkdir(parents=True, exist_ok=True)
        print(f"executing {nb}", file=sys.stderr, flush=True)
        pm.execute_notebook(str(src), str(dst), cwd=str(src.parent), kernel_name="python3", progress_bar=False)
        out[nb] = dst
    return out

def build_site(out: Path, executed: dict | None = None, root: Path = ROOT, only: list | None = None) -> list:
    "Write the site under `out`; `executed` maps notebooks to executed copies (else the sources are used). Returns the pages."
    from nbconvert import HTMLExporter
    sections = sidebar(root)
    if only is not None: sections = [(s, [n for n in nbs if n in only]) for s, nbs in sections]
    sections = [(s, nbs) for s, nbs in sections if nbs]
    titles = {nb: _title(root/nb) for _, nbs in sections for nb in nbs}
    exporter = HTMLExporter(template_name="lab")
    pages = []
    for _, nbs in sections:
        for nb in nbs:
            body, _ = exporter.from_filename(str((executed or {}).get(nb, root/nb)))
            body = re.sub(r'href="([^"#:]+)\.ipynb', r'href="\1.html', body)
            body = body.replace("<body", "<body data-fd-page='" + html.escape(nb) + "'", 1)
            body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _nav(sections, nb, titles), body, count=1)
            page = out/(nb[:-len(".ipynb")] + ".html")
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(body)
            pages.append(page)
    return pages

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="_site_html")
    ap.add_argument("--execute", action="store_true", help="run every notebook first (quick profile)")
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists(): shutil.rmtree(out)
    nbs = [nb for _, group in sidebar() for nb in group]
    with tempfile.TemporaryDirectory() as tmp:
        executed = execute(nbs, Path(tmp)) if a.execute else None
        pages = build_site(out, executed)
    print(f"{len(pages)} pages; open {out/'index.html'}")

if __name__ == "__main__": main()
