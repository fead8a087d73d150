"""Write README.md from index.ipynb (Quarto is not available offline, so this replaces `nbdev-readme`).

Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path: Path) -> str:
    "Markdown cells as they are; code cells not marked `#| hide` as Python blocks."
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = ["<!-- Generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->"]
    for c in nb["cells"]:
        src = "".join(c["source"]).strip()
        if not src: continue
        if c["cell_type"] == "markdown": parts.append(src)
        elif c["cell_type"] == "code" and not any(l.strip() in ("#| hide", "#|hide") for l in src.splitlines()):
            parts.append(f"```python\n{src}\n```")
    return "\n\n".join(parts) + "\n"

def main(argv):
    text, readme = render(ROOT/"index.ipynb"), ROOT/"README.md"
    if "--check" in argv:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print("README.md is out of date: run `python tools/make_readme.py`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(text, encoding="utf-8")
    return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
