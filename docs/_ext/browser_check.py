"""Render the built HTML pages in headless Chromium and fail when a table overflows.

    python docs/_ext/browser_check.py docs/_build/html [--screenshots DIR]

Each page is loaded at 1280 and 1920 px with a small script added that
measures every table and its scrolling container (furo wraps tables in one):
a table is unreadable when its content is wider than the box it is shown in
(``scrollWidth > clientWidth``), i.e. part of it sits behind a horizontal
scroll bar.  The script writes what it measured into the page, and
Chromium's ``--dump-dom`` hands the page back.  With ``--screenshots`` each
page is also saved as a PNG at both widths, to look at.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (1280, 1920)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]
# Pages Sphinx makes that are not the project's own writing.
SKIPPED = {"genindex.html", "search.html", "py-modindex.html"}

MEASURE = """
<script>
window.addEventListener("load", () => {
  const found = [];
  document.querySelectorAll("table, .table-wrapper").forEach((box, i) => {
    if (box.scrollWidth > box.clientWidth + 1) {
      const head = box.querySelector("tr");
      found.push({
        index: i,
        kind: box.tagName.toLowerCase(),
        scrollWidth: box.scrollWidth,
        clientWidth: box.clientWidth,
        firstRow: head ? head.innerText.replace(/\\s+/g, " ").slice(0, 80) : "",
      });
    }
  });
  const page = document.documentElement;
  const out = document.createElement("pre");
  out.id = "xpbridge-overflow";
  out.textContent = JSON.stringify({
    tables: document.querySelectorAll("table").length,
    overflowing: found,
    pageOverflows: page.scrollWidth > page.clientWidth + 1,
  });
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no Chromium found: apt-get install chromium (or set PATH)")


def measure(browser: str, page: Path, width: int) -> dict[str, object]:
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--window-size={width},1000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r'<pre id="xpbridge-overflow">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    if found is None:
        sys.exit(f"{page.name} at {width} px: no measurement came back\n{done.stderr[-2000:]}")
    import html

    result: dict[str, object] = json.loads(html.unescape(found[1]))
    return result


def screenshot(browser: str, page: Path, width: int, out: Path) -> None:
    subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--window-size={width},2400",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built HTML directory")
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each page per width")
    args = parser.parse_args()
    browser = chromium()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "html"
        shutil.copytree(args.html, copy)
        pages = sorted(p for p in copy.glob("*.html") if p.name not in SKIPPED)
        for page in pages:
            text = page.read_text(encoding="utf-8")
            page.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        failures = []
        for page in pages:
            for width in WIDTHS:
                result = measure(browser, page, width)
                bad = result["overflowing"]
                verdict = "fits" if not bad and not result["pageOverflows"] else "OVERFLOWS"
                print(f"{page.name:<24} {width} px  {result['tables']:>2} tables  {verdict}")
                if bad or result["pageOverflows"]:
                    failures.append((page.name, width, bad))
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            for page in pages:
                original = args.html / page.name
                for width in WIDTHS:
                    out = args.screenshots / f"{page.stem}-{width}.png"
                    screenshot(browser, original, width, out)
    for name, width, bad in failures:
        for box in bad:  # type: ignore[attr-defined]
            print(f"  {name} at {width} px: {box}")
    print(f"{len(pages)} pages at {', '.join(map(str, WIDTHS))} px: {len(failures)} overflow")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
