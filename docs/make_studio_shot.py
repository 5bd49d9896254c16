"""Redraw docs/studio.png: the studio on a model trained by `nnzero train` (the default recipe),
with a 7 drawn by mouse strokes.

    nnzero train --out /tmp/model.safetensors
    nnzero studio /tmp/model.safetensors --no-browser --port 8765 &
    python docs/make_studio_shot.py [--url http://127.0.0.1:8765/] [--out docs/studio.png]

Needs the `studio` extra, Playwright's Python package and Debian's chromium.
"""

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8765/")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "studio.png")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1560, "height": 640})
        page.goto(args.url, wait_until="networkidle")
        canvas = page.get_by_test_id("draw-canvas")
        box = canvas.bounding_box()
        points = [(0.25, 0.22), (0.75, 0.22), (0.45, 0.85)]        # a 7, as fractions of the canvas
        page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=12)
        page.mouse.up()
        expect(page.get_by_test_id("prediction")).to_contain_text("reads as 7", timeout=10_000)
        page.screenshot(path=str(args.out))
        browser.close()


if __name__ == "__main__":
    main()
