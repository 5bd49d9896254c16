"""Redraw docs/onnx-graph.png: Netron's drawing of an exported MNIST model.

    PYTHONPATH=src python docs/make_onnx_graph.py

Trains a small 784-64-32-10 ReLU network on 5000 digits (2 epochs), exports it with
``nnzero export --format onnx``, serves it with Netron's pip package on localhost, and
screenshots the page with Playwright in headless Chromium (/usr/bin/chromium). Netron draws
shapes between CJK angle brackets (U+3008/3009): a font with them (Debian: fonts-wqy-microhei)
keeps them from showing as boxes.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nnzero as nz
from nnzero import preprocessing as prep

PORT = 8765
OUT = Path(__file__).with_name("onnx-graph.png")


def main():
    import netron
    from PIL import Image
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    (X, y), _ = nz.datasets.load_mnist(normalize=False)
    model = nz.mlp(784, [64, 32], 10, activation="relu", dropout=0.1)
    model.fit(prep.apply(X[:5000], prep.SCALE_255), y[:5000], epochs=2, seed=0, verbose=0)
    model.save(tmp / "mnist.safetensors", preprocessing=prep.SCALE_255)
    subprocess.run([sys.executable, "-m", "nnzero", "export", str(tmp / "mnist.safetensors"), "--format", "onnx",
                    "--out", str(tmp / "mnist.onnx")], check=True)
    netron.start(str(tmp / "mnist.onnx"), ("localhost", PORT), browse=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 640, "height": 720}, device_scale_factor=2)
        # Netron's cookie notice, answered as a returning visitor's cookie would (no telemetry:
        # the browser has no network beyond localhost).
        context.add_cookies([{"name": "consent", "value": str(int(time.time() * 1000)),
                              "url": f"http://localhost:{PORT}/"}])
        page = context.new_page()
        page.goto(f"http://localhost:{PORT}/", wait_until="load")
        time.sleep(12)                       # Netron lays the graph out after loading
        page.screenshot(path=str(tmp / "page.png"))
        browser.close()
    netron.stop()
    image = Image.open(tmp / "page.png").convert("RGB")
    pixels = np.asarray(image)
    ink = pixels.sum(axis=2) < 740
    ink[:, : pixels.shape[1] // 3] = False   # the zoom buttons on the left
    ys, xs = np.nonzero(ink)
    image.crop((xs.min() - 24, ys.min() - 24, xs.max() + 24, ys.max() + 24)).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
