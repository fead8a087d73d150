"""Copy the text outputs of executed notebooks back into the source notebooks, as the evidence under each example.

    FASTDISTILL_EXECUTED_DIR=/tmp/executed pytest -m notebook     # run every notebook (quick profile), keep copies
    python tools/keep_outputs.py /tmp/executed                     # then keep their text outputs here
    nbdev-clean                                                    # (outputs stay; counts and metadata go)

Only example cells get outputs (never `#| export` cells), matched to the executed copy by cell id and source.
Kept: stdout, and the text/plain, text/markdown or small script-free text/html of results and displays.
Dropped: stderr (progress bars, warnings), figures (plotly, images, widgets: the docs build draws them), errors,
and any output that names a local folder (temporary, home, checkout) or looks like a secret.
"""
from __future__ import annotations
import argparse, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_HTML = 20_000  # characters of text/html kept for one output
MAX_TEXT = 4_000   # characters of text kept for one output (longer ones are cut, with a note)
_SECRET = re.compile(r"(sk-[A-Za-z0-9]{16,}|api[_-]?key\s*[:=]\s*\S{8,})", re.I)
_LOCAL = re.compile(r"/tmp/|/var/folders/|pytest-of-|/root/|/home/|/Users/|/work/")  # this machine's paths

def _text(x) -> str: return "".join(x) if isinstance(x, list) else (x or "")

def _cut(s: str) -> str:
    return s if len(s) <= MAX_TEXT else s[:MAX_TEXT].rstrip() + f"\n… ({len(s) - MAX_TEXT} more characters in a full run)\n"

def keep(out: dict) -> dict | None:
    "The part of one output worth storing, or None."
    kind = out.get("output_type")
    if kind == "stream":
        if out.get("name") != "stdout": return None
        s = _text(out.get("text"))
        return {"output_type": "stream", "name": "stdout", "text": _cut(s)} if s.strip() else None
    if kind not in ("execute_result", "display_data"): return None
    data = out.get("data", {})
    if any(k.startswith(("application/vnd.plotly", "application/vnd.jupyter.widget", "image/")) for k in data): return None
    kept = {}
    for mime in ("text/markdown", "text/plain"):
        if mime in data: kept[mime] = _cut(_text(data[mime]))
    h = _text(data.get("text/html"))
    if h and len(h) <= MAX_HTML and "<script" not in h.lower(): kept["text/html"] = h
    if not kept or not any(v.strip() for v in kept.values()): return None
    res = {"output_type": kind, "data": kept, "metadata": {}}
    if kind == "execute_result": res["execution_count"] = None
    return res

def is_example(cell: dict) -> bool:
    s = _text(cell.get("source")).lstrip()
    return cell.get("cell_type") == "code" and not s.startswith(("#| export", "#|export", "#| exports", "#| exporti"))

def merge(src_nb: dict, run_nb: dict) -> tuple:
    "Set each example cell's outputs from the executed copy; returns (cells with kept outputs, example cells)."
    ran = {c.get("id"): c for c in run_nb["cells"]}
    n_kept = n_ex = 0
    for c in src_nb["cells"]:
        if c.get("cell_type") != "code": continue
        if not is_example(c): c["outputs"] = []; continue
        n_ex += 1
        r = ran.get(c.get("id"))
        outs = []
        if r is not None and _text(r.get("source")) == _text(c.get("source")):
            for o in r.get("outputs", []):
                k = keep(o)
                blob = json.dumps(k) if k else ""
                if k and not _LOCAL.search(blob) and not _SECRET.search(blob): outs.append(k)
        c["outputs"] = outs
        n_kept += bool(outs)
    return n_kept, n_ex

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("executed", help="folder of executed copies (FASTDISTILL_EXECUTED_DIR of the notebook tests)")
    a = ap.parse_args(argv)
    done = Path(a.executed)
    tot_k = tot_e = 0
    for run in sorted(done.rglob("*.ipynb")):
        src = ROOT/run.relative_to(done)
        if not src.exists(): continue
        nb = json.loads(src.read_text())
        k, e = merge(nb, json.loads(run.read_text()))
        src.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        tot_k += k; tot_e += e
        print(f"{src.relative_to(ROOT)}: {k} of {e} example cells keep an output")
    print(f"all: {tot_k} of {tot_e} example cells ({tot_k / max(tot_e, 1):.0%})")

if __name__ == "__main__": sys.exit(main())
