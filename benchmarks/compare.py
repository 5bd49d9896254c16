"""nnzero against PyTorch (CPU) and scikit-learn's MLPClassifier, training an MLP on MNIST.

    python benchmarks/compare.py [--epochs 3] [--repeats 5] [--quick] [--out benchmarks/results]

Same data (bundled MNIST, float32 in [0, 1]), network (ReLU MLP, softmax cross-entropy), batch size,
optimizer (Adam; lr 1e-3 unless the recipe says otherwise) and number of epochs for every contender.
Each (contender, repetition) runs in a fresh process (``contenders.py``), so its peak resident
memory is its own; the contenders alternate (nnzero, torch, sklearn, nnzero, ...) so that slow
drifts of a shared machine hit them alike. Three sections: the benchmark network 784-256-128-10 at
batch 128 (all three); the default recipe as ``nnzero.recipes`` defines it, but for its schedule
(nnzero, torch); batch sizes 32 and 512 (nnzero, torch).

Reported per contender: median seconds per epoch (the first epoch of each run is warm-up and is
reported apart), the ratio to nnzero, GFLOP/s and its fraction of this machine's float32 matmul
peak (measured here, with np.matmul), test accuracy, predict time for the 10,000 test images
(median of 5), and peak resident memory (VmHWM). FLOPs per epoch use the nominal
6 × (weights) × (samples): forward X·W, and backward Xᵀ·G and G·Wᵀ, 2 FLOPs per multiply-add.
None of the three computes the input gradient of the first layer, so all really do
6·P·n − 2·784·h₁·n; the nominal count keeps the issue's definition and the ratios comparable.

Also measured for every run: the CPU time other processes used meanwhile (from /proc/stat), since
on a shared machine that, not the code, is the main source of noise. Writes compare.md and
compare.json to --out and prints the Markdown.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from machine import cpu_busy_seconds, machine, matmul_peak, speed_probe, wait_quiet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))     # the recipe of this checkout
N_TRAIN = 60000
BENCH = (256, 128)
NOISY_CORES = 0.1        # other processes' CPU use (in cores) above which a run counts as disturbed
LABELS = {"nnzero": "nnzero", "torch": "PyTorch (CPU)", "sklearn": "scikit-learn MLPClassifier"}


def weights(hidden):
    sizes = [784, *hidden, 10]
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def nominal_flops(hidden, n=N_TRAIN):
    """6 · P · n: per sample, 2 FLOPs per weight in each of the three products X·W, Xᵀ·G, G·Wᵀ."""
    return 6 * weights(hidden) * n


# -- running the contenders ------------------------------------------------------------------------
def run_child(spec, max_wait):
    """Run one contender in a fresh process; its JSON result plus the CPU others used meanwhile."""
    waited = wait_quiet(max_wait) if max_wait > 0 else None
    probe = speed_probe()
    busy0 = cpu_busy_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / "contenders.py"), json.dumps(spec)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{spec['contender']} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["waited_for_quiet_s"] = waited
    result["probe_gflops"] = probe
    if busy0 is not None:
        # Cores' worth of CPU used by other processes during this run (0 on a quiet machine).
        result["other_cpu_cores"] = max(0.0, (cpu_busy_seconds() - busy0 - own) / wall)
    return result


def plan(args):
    """The runs, in execution order: sections outermost, then repetitions, then contenders.

    The recipe section takes architecture, dropout, batch size and learning rate from
    ``nnzero.recipes`` "default" (its schedule is left out: a constant rate for both)."""
    from nnzero import recipes

    default = recipes.get("default")
    runs = []

    def section(name, hidden, batch_sizes, contenders, dropout=0.0, lr=1e-3):
        for rep in range(args.repeats):
            for bs in batch_sizes:
                for c in contenders:
                    runs.append({"section": name, "contender": c, "hidden": list(hidden), "batch_size": bs,
                                 "dropout": dropout, "lr": lr, "epochs": args.epochs, "seed": rep,
                                 "predict_repeats": 5})
    wanted = set(getattr(args, "sections", None) or SECTIONS)
    if "benchmark" in wanted:
        section("benchmark", BENCH, [128], ["nnzero", "torch", "sklearn"])
    if "recipe" in wanted:
        section("recipe", default["hidden"], [default["batch_size"]], ["nnzero", "torch"],
                dropout=default.get("dropout", 0.0), lr=default["lr"])
    if "batch" in wanted:
        section("batch", BENCH, [32, 512], ["nnzero", "torch"])
    return runs


SECTIONS = ("benchmark", "recipe", "batch")


def describe(run):
    """'784-512-256-10 ReLU, dropout 0.1, batch 256, Adam(2e-3)' for a run's spec."""
    drop = f", dropout {run['dropout']:g}" if run.get("dropout") else ""
    return (f"{'-'.join(map(str, [784, *run['hidden'], 10]))} ReLU{drop}, batch {run['batch_size']}, "
            f"Adam({format(run.get('lr', 1e-3), '.0e').replace('e-0', 'e-')})")


def noisy(run):
    return run.get("other_cpu_cores", 0.0) > NOISY_CORES


def summarize(runs, peak):
    """Per (section, contender, batch size): medians over repetitions, steady epochs apart from the first."""
    groups = {}
    for r in runs:
        groups.setdefault((r["section"], r["contender"], r["batch_size"]), []).append(r)
    rows = []
    for (section, contender, bs), rs in groups.items():
        # A run still disturbed after its retries counts only when no undisturbed run is left.
        clean = [r for r in rs if not noisy(r)]
        disturbed = len(rs) - len(clean)
        rs = clean or rs
        steady = [t for r in rs for t in (r["epoch_s"][1:] or r["epoch_s"])]
        epoch = float(np.median(steady))
        flops = nominal_flops(rs[0]["hidden"])
        rows.append({
            "section": section, "contender": contender, "batch_size": bs, "hidden": rs[0]["hidden"],
            "runs": len(rs), "disturbed_runs_left_out": disturbed if clean else 0, "epochs_per_run": rs[0]["epochs"],
            "epoch_s": epoch, "epoch_s_min": float(min(steady)), "epoch_s_max": float(max(steady)),
            "first_epoch_s": float(np.median([r["epoch_s"][0] for r in rs])),
            "nominal_gflop_per_epoch": flops / 1e9,
            "gflops": flops / epoch / 1e9, "peak_fraction": flops / epoch / 1e9 / peak,
            "test_accuracy": float(np.median([r["test_accuracy"] for r in rs])),
            "predict_ms": 1e3 * float(np.median([r["predict_s"] for r in rs])),
            "predict_one_ms": 1e3 * float(np.median([r.get("predict_one_s", np.nan) for r in rs])),
            "fit2_s": float(np.median([r.get("note_fit2_s", np.nan) for r in rs])),
            "peak_rss_mb": float(max(r["peak_rss_mb"] for r in rs)),
            "peak_after_load_mb": float(max(r["peak_after_load_mb"] for r in rs)),
            "other_cpu_cores": float(np.mean([r.get("other_cpu_cores", np.nan) for r in rs])),
        })
    for row in rows:
        ref = next(r for r in rows if r["contender"] == "nnzero" and r["section"] == row["section"]
                   and r["batch_size"] == row["batch_size"])
        row["ratio_to_nnzero"] = row["epoch_s"] / ref["epoch_s"]
    return rows


def targets(rows):
    """Issue 12's targets, each as (description, measured, met)."""
    get = lambda c, sec="benchmark": next(r for r in rows if r["section"] == sec and r["contender"] == c)
    nz, th, sk = get("nnzero"), get("torch"), get("sklearn")
    one = get("nnzero", "recipe")["predict_one_ms"]
    return [
        ("steady epoch ≤ 0.6 × PyTorch", nz["epoch_s"] / th["epoch_s"], nz["epoch_s"] <= 0.6 * th["epoch_s"]),
        ("steady epoch ≤ 0.35 × scikit-learn", nz["epoch_s"] / sk["epoch_s"], nz["epoch_s"] <= 0.35 * sk["epoch_s"]),
        ("test accuracy ≥ PyTorch's", nz["test_accuracy"] - th["test_accuracy"],
         nz["test_accuracy"] >= th["test_accuracy"]),
        ("one-sample predict ≤ 0.3 ms (default model)", one, one <= 0.3),
        ("predict 10k ≤ PyTorch's time", nz["predict_ms"] / th["predict_ms"], nz["predict_ms"] <= th["predict_ms"]),
        ("peak RSS ≤ 0.6 × PyTorch's", nz["peak_rss_mb"] / th["peak_rss_mb"],
         nz["peak_rss_mb"] <= 0.6 * th["peak_rss_mb"]),
    ]


# -- the report ------------------------------------------------------------------------------------
def markdown(report):
    m, s, rows = report["machine"], report["settings"], report["summary"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
                     for b in m["numpy_blas"][:1])
    torch_run = next((r for r in report["runs"] if r["contender"] == "torch"), {})
    v = m["versions"]
    peak = report["matmul_peak"]
    others = [r.get("other_cpu_cores", 0.0) for r in report["runs"]]
    probes = [r.get("probe_gflops", np.nan) for r in report["runs"]]
    left_out = sum(r["disturbed_runs_left_out"] for r in rows)
    retried = len(report.get("discarded_noisy_runs", []))
    disturbance = (f"no run was disturbed by more than {NOISY_CORES} cores" if not (retried or left_out) else
                   f"{retried} run(s) disturbed by more than {NOISY_CORES} cores were run again, and "
                   f"{left_out} still disturbed after {s.get('retries', 2)} retries left out of the medians")
    bench = next(r for r in report["runs"] if r["section"] == "benchmark")
    recipe = next(r for r in report["runs"] if r["section"] == "recipe")
    out = [
        "# nnzero vs PyTorch vs scikit-learn: training a ReLU MLP on MNIST",
        "",
        f"Machine: {m['cpu']} ({m['cpu_family_model']}; {', '.join(m['simd'])}), {m['cores']} cores, "
        f"{m['memory_gib']:.0f} GiB; {m['os']}; Python {m['python']}.",
        f"numpy {v['numpy']} with {blas}; torch {v['torch']} ({torch_run.get('note_blas', '?')}, "
        f"{torch_run.get('note_threads', '?')} threads); scikit-learn {v['scikit-learn']}. "
        f"Thread environment variables: {m['thread_env'] or 'none set'}.",
        f"float32 matmul peak (np.matmul, best of square 2048/4096): **{peak['gflops']:.0f} GFLOP/s** "
        f"({peak['threads_1']:.0f} GFLOP/s on 1 thread); measured before and after the runs: "
        f"{peak['before']:.0f} / {peak['after']:.0f}.",
        f"{s['epochs']} epochs × {s['repeats']} repetitions per contender and setting, each in a fresh "
        f"process, contenders alternating. s/epoch: median over the repetitions of "
        f"{'all epochs' if s['epochs'] == 1 else 'every epoch but the first'} (the first, warm-up, is "
        f"shown apart). Other processes used {np.mean(others):.2f} cores on average during the runs "
        f"(max {np.max(others):.2f}); {disturbance}. Before each run a probe timed the benchmark's largest "
        f"product, (128, 784)·(784, 256): {min(probes):.0f}–{max(probes):.0f} GFLOP/s, the machine's own "
        f"variation, invisible to /proc/stat (a busy neighbour on the host, clock changes).",
        f"GFLOP/s = nominal 6 × weights × 60,000 / (s/epoch): {nominal_flops(bench['hidden']) / 1e9:.1f} "
        f"GFLOP for the benchmark network, {nominal_flops(recipe['hidden']) / 1e9:.1f} GFLOP for the recipe's.",
        "",
    ]
    head = ("| contender | s/epoch | best s/epoch | 1st epoch s | × nnzero | GFLOP/s | % of peak | test acc | "
            "predict 10k ms | predict 1 ms | 2-epoch fit s | peak RSS MB |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def table(section):
        lines = [head]
        for r in rows:
            if r["section"] == section:
                lines.append(f"| {LABELS[r['contender']]} | {r['epoch_s']:.2f} | {r['epoch_s_min']:.2f} | "
                             f"{r['first_epoch_s']:.2f} | "
                             f"{r['ratio_to_nnzero']:.2f} | {r['gflops']:.1f} | {100 * r['peak_fraction']:.0f} % | "
                             f"{r['test_accuracy']:.4f} | {r['predict_ms']:.0f} | {r['predict_one_ms']:.3f} | "
                             f"{r['fit2_s']:.2f} | {r['peak_rss_mb']:.0f} |")
        return lines

    loaded = max(r["peak_after_load_mb"] for r in rows)
    out += [f"## Benchmark network: {describe(bench)}", "", *table("benchmark"), "",
            f"Of each peak RSS, {loaded:.0f} MB is reached while loading MNIST (interpreter, NumPy, "
            f"nnzero.datasets, 219 MB of float32 data), before the contender's library is imported or "
            f"training starts.", ""]
    out += ["Targets of issue 12 (ratios from this run):", "", "| target | measured | met |", "|---|---:|:---:|"]
    for name, value, met in report["targets"]:
        shown = f"{value:+.4f}" if "accuracy" in name else (f"{value:.3f} ms" if "ms" in name
                                                             else f"{value:.2f}")
        out.append(f"| {name} | {shown} | {'yes' if met else '**no**'} |")
    out += ["", f"## The default recipe: {describe(recipe)}", "",
            "(As in `nnzero.recipes`, but for its cosine schedule: a constant rate keeps the two identical.)",
            "", *table("recipe"), ""]
    out += ["## Batch size: 784-256-128-10, Adam(1e-3)", "",
            "| batch | nnzero s/epoch | PyTorch s/epoch | nnzero / PyTorch | nnzero GFLOP/s | "
            "PyTorch GFLOP/s | nnzero acc | PyTorch acc |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for bs in (32, 128, 512):
        sec = "benchmark" if bs == 128 else "batch"
        pick = {r["contender"]: r for r in rows if r["section"] == sec and r["batch_size"] == bs}
        if "nnzero" in pick and "torch" in pick:
            a, b = pick["nnzero"], pick["torch"]
            out.append(f"| {bs} | {a['epoch_s']:.2f} | {b['epoch_s']:.2f} | {a['epoch_s'] / b['epoch_s']:.2f} | "
                       f"{a['gflops']:.1f} | {b['gflops']:.1f} | {a['test_accuracy']:.4f} | "
                       f"{b['test_accuracy']:.4f} |")
    out += ["", f"Generated by `python benchmarks/compare.py {s['argv']}` in {report['total_s'] / 60:.1f} min"
            f" at nnzero commit {s.get('commit', '?')}."]
    return "\n".join(out) + "\n"


def write_atomic(path, text):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def git_state():
    """The checkout's commit, marked when src/ has uncommitted changes ('?' outside git)."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=HERE, capture_output=True, text=True).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD") or "?"
        return head + (" with uncommitted changes in src/" if git("status", "--porcelain", "--", "../src") else "")
    except OSError:
        return "?"


def measure(args, argv):
    """Run everything; the report as a JSON-able dict (summary and targets are added by finish)."""
    t_start = time.perf_counter()
    info = machine()
    wait_quiet(args.quiet_wait)
    before = matmul_peak()
    one = matmul_peak(threads=1)
    runs, discarded = [], []
    todo = plan(args)
    for i, spec in enumerate(todo, 1):
        for attempt in range(args.retries + 1):
            r = run_child(spec, args.quiet_wait)
            print(f"[{i}/{len(todo)}] {spec['section']:9s} {spec['contender']:7s} batch {spec['batch_size']:3d} "
                  f"epochs {', '.join(f'{t:.2f}' for t in r['epoch_s'])} s  acc {r['test_accuracy']:.4f}  "
                  f"peak {r['peak_rss_mb']:.0f} MB  others {r.get('other_cpu_cores', float('nan')):.2f} cores  "
                  f"probe {r['probe_gflops']:.0f} GFLOP/s"
                  + ("  (disturbed: run again)" if noisy(r) and attempt < args.retries else ""),
                  file=sys.stderr, flush=True)
            if not noisy(r) or attempt == args.retries:
                break
            discarded.append(r)
        runs.append(r)
    wait_quiet(args.quiet_wait)
    after = matmul_peak()
    return {
        "machine": info,
        "settings": {"epochs": args.epochs, "repeats": args.repeats, "quick": args.quick,
                     "retries": args.retries, "quiet_wait_s": args.quiet_wait, "commit": git_state(),
                     "argv": " ".join(argv), "n_train": N_TRAIN,
                     "flops": "nominal 6 * weights * n_train per epoch"},
        "matmul_peak": {"gflops": max(*before.values(), *after.values()), "before": max(before.values()),
                        "after": max(after.values()), "threads_1": max(one.values()),
                        "by_size_before": before, "by_size_after": after},
        "runs": runs,
        "discarded_noisy_runs": discarded,
        "total_s": time.perf_counter() - t_start,
    }


def finish(report, out):
    """Summarize the runs, write compare.md and compare.json to ``out``, print the Markdown."""
    report["summary"] = summarize(report["runs"], report["matmul_peak"]["gflops"])
    report["targets"] = targets(report["summary"])
    text = markdown(report)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "compare.md", text)
    write_atomic(out / "compare.json", json.dumps(report, indent=1, default=float) + "\n")
    print(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per contender and setting (default 5)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, 1 repetition")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, metavar="NAME",
                    help=f"run only these sections (default all: {', '.join(SECTIONS)})")
    ap.add_argument("--quiet-wait", type=float, default=60, metavar="S",
                    help="before each run, wait up to S s for other processes to go idle (default 60; 0: don't)")
    ap.add_argument("--retries", type=int, default=2,
                    help=f"run again, up to this many times, a run during which other processes used "
                         f"more than {NOISY_CORES} cores (default 2)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for compare.md/.json")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="measure nothing: rebuild the report from the runs in a compare.json")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            report = json.load(f)
        return finish(report, args.out)
    if args.quick:
        args.epochs, args.repeats = 2, 1
    if args.epochs < 1 or args.repeats < 1 or args.retries < 0:
        ap.error(f"--epochs and --repeats must be ≥ 1 and --retries ≥ 0, got {args.epochs}, "
                 f"{args.repeats} and {args.retries}")
    finish(measure(args, argv), args.out)


if __name__ == "__main__":
    main()
