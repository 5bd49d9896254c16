"""Check that the figures printed in the README (and other docs) are the stored results.

    python benchmarks/figures.py        # exit 1 and a list of mismatches if any figure is off

Each entry of FIGURES names a document, a piece of its text with ``{...}`` fields where numbers
stand, the results file in benchmarks/results/ those numbers come from, and a function that picks
them out of it. The check formats the stored values into the text and looks for the exact text in
the document. When a benchmark is rerun, rerun this and update the document (or the entry's
text); to register a new figure, add an entry. tests/test_figures.py runs the check in CI.
"""

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


@dataclass
class Figure:
    document: str                     # path from the repository root
    text: str                         # str.format template: the document must contain it filled in
    results: str                      # benchmarks/results/<results>.json, or .jsonl read as {"runs": [...]}
    values: Callable                  # results (dict) -> tuple of values for the template


def pick(rows, **match):
    """The one row of ``rows`` whose keys equal ``match``."""
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    if len(found) != 1:
        raise LookupError(f"{len(found)} rows match {match}")
    return found[0]


def compare_row(name, contender):
    def values(r):
        s = pick(r["summary"], section="benchmark", contender=contender)
        return (name, s["epoch_s"], s["epoch_s_min"], s["gflops"], 100 * s["peak_fraction"], s["test_accuracy"],
                s["predict_ms"], s["peak_rss_mb"])
    return Figure("README.md", "| {} | {:.2f} | {:.2f} | {:.0f} | {:.0f} % | {:.4f} | {:.0f} ms | {:.0f} MB |",
                  "compare", values)


def latest(rows, **match):
    """The last of ``rows`` whose keys equal ``match`` (results/*.jsonl files are appended to)."""
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    if not found:
        raise LookupError(f"no row matches {match}")
    return found[-1]


def summary(r, contender, section="benchmark"):
    """compare.json's summary row of one contender."""
    return pick(r["summary"], section=section, contender=contender)


def ratio(r, key, contender):
    """nnzero's ``key`` over ``contender``'s, in the same compare.py run."""
    return summary(r, "nnzero")[key] / summary(r, contender)[key]


TUNED = {"seed": 0, "epochs": 30, "hidden": [800, 800]}      # the runs of the README's validation table


def tuning_runs(r):
    return [run for run in r["runs"] if run["seed"] == TUNED["seed"] and all(
        run["settings"][k] == v for k, v in TUNED.items() if k != "seed")]


def tuned(text, **augment):
    """A validation accuracy (in %) of the latest tuning run with these warp settings."""
    def values(r):
        runs = [run for run in tuning_runs(r) if run["settings"].get("augment") == augment]
        if not runs:
            raise LookupError(f"no tuning run with augment={augment}")
        return (100 * runs[-1]["final_val_accuracy"],)
    return Figure("README.md", text, "tuning", values)


def tuning_minutes(r):
    return [run["curve"][-1]["seconds"] / 60 for run in tuning_runs(r)]


def recipe_row(name, seeds=(0, 1, 2)):
    """A recipe's test accuracy (%) per seed, their median, and its wall time per seed: the latest
    ``--cli`` run (the whole ``nnzero train`` command) of each seed in results/recipes.jsonl."""
    def values(r):
        runs = [latest(r["runs"], recipe=name, seed=s, mode="cli") for s in seeds]
        acc = [100 * run["test_accuracy"] for run in runs]
        return (*acc, sorted(acc)[len(acc) // 2], *[run["wall_seconds"] for run in runs])
    return values


def best_curve(r):
    """Test accuracy against training time of ``best``, seed 0 (the latest in-process run)."""
    curve = latest(r["runs"], recipe="best", seed=0, mode="in-process")["curve"]
    at = {c["epoch"]: c for c in curve}
    first = next(c for c in curve if c["test_accuracy"] >= 0.99)
    out = []
    for c in (at[10], first, at[30], at[60], at[80]):
        out += [100 * c["test_accuracy"], c["seconds"]] + ([c["epoch"]] if c is first else [])
    return tuple(out)


def sklearn_row(data, estimator, dtype):
    return lambda r: pick(r["rows"], data=data, estimator=estimator, dtype=dtype)


MNIST, DIGITS = "MNIST (60000 / 10000)", "digits (1347 / 450)"
NNZERO_EST, SK_EST = "nnzero.sklearn.MLPClassifier", "scikit-learn MLPClassifier"

FIGURES = [
    # benchmarks/compare.py → results/compare.json: the table "Against PyTorch and scikit-learn"
    compare_row("nnzero", "nnzero"),
    compare_row("PyTorch 2.13 (CPU, MKL)", "torch"),
    compare_row("scikit-learn 1.9 MLPClassifier", "sklearn"),
    Figure("README.md", "median of {} runs", "compare", lambda r: (r["settings"]["repeats"],)),
    Figure("README.md", "commit {} on an AMD EPYC", "compare", lambda r: (r["settings"]["commit"],)),
    Figure("README.md", "with OpenBLAS {} ({} kernel), {} threads", "compare", lambda r: (
        ".".join(r["machine"]["numpy_blas"][0]["version"].split(".")[:3]),
        r["machine"]["numpy_blas"][0]["architecture"], r["machine"]["numpy_blas"][0]["num_threads"])),
    # the prose after the table: ratios of the same run's summary rows
    Figure("README.md", "nnzero's median epoch took {:.2f} of PyTorch's and {:.2f} of scikit-learn's "
           "({:.2f} and {:.2f} best against best)", "compare", lambda r: (
               ratio(r, "epoch_s", "torch"), ratio(r, "epoch_s", "sklearn"),
               ratio(r, "epoch_s_min", "torch"), ratio(r, "epoch_s_min", "sklearn"))),
    Figure("README.md", "PyTorch's epochs took {:.2f} to {:.2f} s", "compare", lambda r: (
        summary(r, "torch")["epoch_s_min"], summary(r, "torch")["epoch_s_max"])),
    Figure("README.md", "predicted the 10,000 test images in {:.2f} × PyTorch's time and peaked at {:.0f} % "
           "of its memory", "compare", lambda r: (
               ratio(r, "predict_ms", "torch"), 100 * ratio(r, "peak_rss_mb", "torch"))),
    # benchmarks/compare.py on the Intel Xeon → results/compare_intel.json: the paragraph after the table
    Figure("README.md", "at commit {}, a quiet machine", "compare_intel",
           lambda r: (r["settings"]["commit"],)),
    Figure("README.md", "benchmark network took {:.2f} of PyTorch's and {:.2f} of scikit-learn's ({:.2f} s "
           "against {:.2f} s and {:.2f} s); on the default recipe's network {:.2f} of PyTorch's; one-sample "
           "predict of the default model {:.3f} ms; the 10,000 test images in {:.2f} × PyTorch's time ({:.0f} "
           "against {:.0f} ms); peak memory {:.0f} % of PyTorch's", "compare_intel", lambda r: (
               ratio(r, "epoch_s", "torch"), ratio(r, "epoch_s", "sklearn"), summary(r, "nnzero")["epoch_s"],
               summary(r, "torch")["epoch_s"], summary(r, "sklearn")["epoch_s"],
               summary(r, "nnzero", "recipe")["epoch_s"] / summary(r, "torch", "recipe")["epoch_s"],
               summary(r, "nnzero", "recipe")["predict_one_ms"], ratio(r, "predict_ms", "torch"),
               summary(r, "nnzero")["predict_ms"], summary(r, "torch")["predict_ms"],
               100 * ratio(r, "peak_rss_mb", "torch"))),
    # benchmarks/time_to_accuracy.py → results/time_to_accuracy.json: the time-to-accuracy table
    *[Figure("README.md", f"| {label} | {{:.1f}} s | {{:.1f}} s | {{:.2f}} % | {{:.1f}} s |", "time_to_accuracy",
             lambda r, c=c: (pick(r["rows"], contender=c)["to_0.97_s"], pick(r["rows"], contender=c)["to_0.98_s"],
                             100 * pick(r["rows"], contender=c)["final_accuracy"], pick(r["rows"], contender=c)["total_s"]))
      for label, c in (("nnzero", "nnzero"), ("PyTorch 2.13", "torch"), ("scikit-learn 1.9", "sklearn"))],
    Figure("README.md", "median of {} fresh-process runs each, same Intel Xeon, commit {};", "time_to_accuracy",
           lambda r: (r["repeats"], r["commit"])),
    # benchmarks/tune_recipes.py → results/tuning.jsonl: the validation table of the warps
    tuned("| shift ±2 px, rotation ±12°, scale ±10 %, shear ±0.15 (`fast99`) | **{:.2f} %** |",
          shift=2, rotate=12, scale=0.1, shear=0.15, elastic=0),
    tuned("| shift ±1.5 px, rotation ±10°, scale ±10 %, shear ±0.1, elastic 1 px (`best`, `--augment elastic`) "
          "| {:.2f} % |", shift=1.5, rotate=10, scale=0.1, shear=0.1, elastic=1.0),
    tuned("| shift ±2 px, rotation ±12°, scale ±10 %, shear ±0.15, elastic 1.5 px | {:.2f} %¹ |",
          shift=2, rotate=12, scale=0.1, shear=0.15, elastic=1.5),
    Figure("README.md", "`best`'s 80 epochs were chosen on the same split: {:.2f} % validation accuracy",
           "tuning", lambda r: (100 * latest(r["runs"], recipe="best", seed=0)["final_val_accuracy"],)),
    Figure("README.md", "their times ({:.0f}–{:.0f} min for 30 epochs)", "tuning", lambda r: (
        min(tuning_minutes(r)), max(tuning_minutes(r)))),
    # benchmarks/bench_recipes.py --cli → results/recipes.jsonl: the recipes table, the latest
    # whole-command run of each (recipe, seed); and the accuracy-against-time curve (in-process run)
    *[Figure("README.md", f"| `{name}` | {{:.2f}} % | {{:.2f}} % | {{:.2f}} % | **{{:.2f}} %** | "
             "{:.0f} s | {:.0f} s | {:.0f} s |", "recipes", recipe_row(name))
      for name in ("default", "fast99", "best")],
    *[Figure("README.md", f"| `{name}` | {{:.2f}} % | | | **{{:.2f}} %** | {{:.0f}} s | | |", "recipes",
             recipe_row(name, seeds=(0,))) for name in ("long", "seed")],
    Figure("README.md", "{:.2f} % after {:.0f} s of training (epoch 10), {:.2f} % after {:.0f} s (epoch {}, the "
           "first at 99 % or more), {:.2f} % after {:.0f} s (epoch 30), {:.2f} % after {:.0f} s (epoch 60) and "
           "{:.2f} % after {:.0f} s (epoch 80)", "recipes", best_curve),
    # benchmarks/bench_sklearn.py → results/sklearn.json has no stored run yet. Once it has, register
    # the README's sentence, e.g. with sklearn_row(MNIST, NNZERO_EST, "float32")(r)["fit_seconds_median"].
]


def check(figures=FIGURES, root=ROOT, results=RESULTS):
    """A list of problems (empty when every figure matches its stored result)."""
    problems = []
    for fig in figures:
        path = Path(results) / f"{fig.results}.json"
        if not path.exists() and path.with_suffix(".jsonl").exists():
            path = path.with_suffix(".jsonl")
        if not path.exists():
            problems.append(f"{fig.document}: {fig.text!r} has no stored results ({path.name} is missing)")
            continue
        try:
            expected = fig.text.format(*fig.values(_read(path)))
        except (LookupError, TypeError, ValueError) as exc:
            problems.append(f"{fig.document}: {fig.text!r}: {path.name} lacks the values ({exc})")
            continue
        doc = (Path(root) / fig.document).read_text(encoding="utf-8")
        if _norm(expected) not in _norm(doc):
            problems.append(f"{fig.document}: expected {expected!r} (from {path.name}); the document says "
                            f"{_nearest(fig.text, doc)!r}")
    return problems


def _read(path):
    if path.suffix == ".jsonl":
        return {"runs": [json.loads(line) for line in path.read_text().splitlines() if line.strip()]}
    return json.loads(path.read_text())


def _norm(text):
    """Line breaks and runs of spaces count as one space (the README is wrapped by hand)."""
    return re.sub(r"\s+", " ", text)


def _nearest(template, doc):
    """What the document has where the template's numbers should be, or '(not found)'."""
    parts = [re.escape(_norm(p)).replace(r"\ ", r"\s+") for p in re.split(r"\{[^}]*\}", template)]
    m = re.search(r"(\S+?)".join(parts), doc)
    return m.group(0) if m else "(not found)"


def main():
    problems = check()
    for p in problems:
        print(p)
    print(f"{len(FIGURES) - len(problems)} of {len(FIGURES)} registered figures match their stored results")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
