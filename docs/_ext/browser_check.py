"""Render the built HTML pages in headless Chromium; fail when a table or code block overflows.

    python docs/_ext/browser_check.py docs/_build/html [--screenshots DIR] [--page NAME ...]

Each page is loaded at 1280 and 1920 px with a small script added that
measures every table, its scrolling container (furo wraps tables in one) and
every code block: one is unreadable when its content is wider than the box it
is shown in (``scrollWidth > clientWidth``), i.e. part of it sits behind a
horizontal scroll bar (a doctest's error message whose remedy is off the
right edge, say), or when a table fits only by breaking a word of code that
has no space or hyphen to break at (``to_t|orch(a)``: a column squeezed too
narrow to read).  The script writes what it measured into the page, and
Chromium's ``--dump-dom`` hands the page back.  With ``--screenshots`` each
page is also saved as a PNG at both widths, the whole page down to its end
(at most MAX_SCREENSHOT_HEIGHT px), to look at.
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
from typing import Any

WIDTHS = (1280, 1920)
# Chromium draws a screenshot as one texture: beyond this it comes out blank.
MAX_SCREENSHOT_HEIGHT = 16000
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
  document.querySelectorAll("table, .table-wrapper, article pre").forEach((box, i) => {
    if (box.scrollWidth > box.clientWidth + 1) {
      const head = box.querySelector("tr") || box;
      found.push({
        index: i,
        kind: box.tagName.toLowerCase(),
        scrollWidth: box.scrollWidth,
        clientWidth: box.clientWidth,
        firstRow: head ? head.innerText.replace(/\\s+/g, " ").slice(0, 80) : "",
      });
    }
  });
  // A word of code in a table that has no space or hyphen to break at, drawn
  // on two lines: its column was squeezed too narrow to read.
  const broken = [];
  document.querySelectorAll("article td code.literal").forEach((code) => {
    const words = code.querySelectorAll("span.pre");
    (words.length ? Array.from(words) : [code]).forEach((word) => {
      const text = word.textContent.trim();
      if (!/[\\s-]/.test(text) && word.getClientRects().length > 1) {
        broken.push(text);
      }
    });
  });
  const page = document.documentElement;
  const out = document.createElement("pre");
  out.id = "xpbridge-overflow";
  out.textContent = JSON.stringify({
    tables: document.querySelectorAll("table").length,
    blocks: document.querySelectorAll("article pre").length,
    overflowing: found,
    brokenCode: broken,
    pageOverflows: page.scrollWidth > page.clientWidth + 1,
    height: page.scrollHeight,
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


def measure(browser: str, page: Path, width: int) -> dict[str, Any]:
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

    result: dict[str, Any] = json.loads(html.unescape(found[1]))
    return result


def screenshot(browser: str, page: Path, width: int, height: int, out: Path) -> None:
    # Absolute paths: Path.as_uri() refuses a relative one, and Chromium writes a
    # relative --screenshot path into its own working directory.
    height = min(max(height, 600), MAX_SCREENSHOT_HEIGHT)
    subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--window-size={width},{height}",
            f"--screenshot={out.resolve()}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built HTML directory")
    parser.add_argument("--screenshots", type=Path, help="save a PNG of each page per width")
    parser.add_argument(
        "--page",
        action="append",
        metavar="NAME",
        help="check only this page, e.g. quickstart (repeatable; default: every page)",
    )
    parser.add_argument(
        "--width", action="append", type=int, help="check only this width (repeatable)"
    )
    args = parser.parse_args()
    widths = tuple(args.width or WIDTHS)
    browser = chromium()
    heights: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "html"
        shutil.copytree(args.html, copy)
        pages = sorted(p for p in copy.glob("*.html") if p.name not in SKIPPED)
        if args.page:
            pages = [p for p in pages if p.stem in args.page]
            missing = set(args.page) - {p.stem for p in pages}
            if missing:
                sys.exit(f"no such page: {', '.join(sorted(missing))}")
        for page in pages:
            text = page.read_text(encoding="utf-8")
            page.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        failures: list[tuple[str, int, list[dict[str, Any]]]] = []
        for page in pages:
            for width in widths:
                result = measure(browser, page, width)
                broken = [{"code broken mid-word": word} for word in result["brokenCode"]]
                bad = [*result["overflowing"], *broken]
                heights[page.name, width] = int(result["height"])
                verdict = "fits" if not bad and not result["pageOverflows"] else "OVERFLOWS"
                print(
                    f"{page.name:<24} {width} px  {result['tables']:>2} tables "
                    f"{result['blocks']:>3} code blocks  {verdict}"
                )
                if bad or result["pageOverflows"]:
                    failures.append((page.name, width, bad))
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            for page in pages:
                original = args.html / page.name
                for width in widths:
                    out = args.screenshots / f"{page.stem}-{width}.png"
                    screenshot(browser, original, width, heights[page.name, width], out)
    for name, width, bad in failures:
        for box in bad:
            print(f"  {name} at {width} px: {box}")
    print(f"{len(pages)} pages at {', '.join(map(str, widths))} px: {len(failures)} overflow")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
