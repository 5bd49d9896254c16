"""Coverage-guided fuzzing (atheris, libFuzzer) of nnzero's readers, for a bounded time each.

    python tests/fuzz/run.py                    # every target, 25 s each (CI: .ci/run)
    python tests/fuzz/run.py --seconds 120 csv  # one target, longer

Targets: idx, npy, npz, csv, image, model (the model-file reader). Each is seeded with the
committed corpus in tests/fuzz/corpus/<target>/ (hostile files like those the tests build); new
inputs libFuzzer finds go to a temporary folder, so the corpus only changes when someone adds to it
on purpose. An input may raise an nnzero error (NnzeroError: a clear message) and nothing else:
any other exception, a crash, a hang (--timeout) or memory beyond the limit fails the run, and
libFuzzer saves the input that did it as crash-*/timeout-*/oom-* in the current folder.
Readers run under a 64 MB byte budget (NNZERO_MAX_BYTES) so a hostile size is refused quickly.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("idx", "npy", "npz", "csv", "image", "model")


def _one_target(name):
    """Runs inside the fuzzing process: instrument nnzero, define the target, fuzz."""
    import io

    import atheris

    with atheris.instrument_imports(include=["nnzero"]):
        from nnzero import datasets, serialization
        from nnzero.errors import NnzeroError
        if name == "image":
            from nnzero import images

    folder = tempfile.mkdtemp(prefix="nnzero-fuzz-")
    suffix = {"npy": ".npy", "npz": ".npz", "csv": ".csv", "model": ".safetensors"}.get(name, "")
    path = os.path.join(folder, "input" + suffix)

    def as_file(data):
        with open(path, "wb") as f:
            f.write(data)
        return path

    def target(data):
        try:
            if name == "idx":
                datasets.read_idx(io.BytesIO(data))
            elif name == "npy":
                datasets.load_npy(as_file(data))
            elif name == "npz":
                datasets.load_npz(as_file(data))
            elif name == "csv":
                label = (None, "label", 0, -1)[len(data) % 4]
                datasets.load_csv(as_file(data), label_column=label)
            elif name == "image":
                images.load_digit(io.BytesIO(data))
            elif name == "model":
                serialization.load(as_file(data))
        except NnzeroError:
            pass

    return target


def fuzz_main(name, seconds, extra):
    import atheris

    target = _one_target(name)
    work = tempfile.mkdtemp(prefix=f"nnzero-fuzz-{name}-corpus-")
    args = [sys.argv[0], f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=2048",
            "-max_len=65536", "-print_final_stats=1", *extra, work, str(HERE / "corpus" / name)]
    atheris.Setup(args, target)
    atheris.Fuzz()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*", default=list(TARGETS), help=f"some of {', '.join(TARGETS)}")
    p.add_argument("--seconds", type=int, default=25, help="fuzzing time per target (default 25)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args, extra = p.parse_known_args(argv)
    if args.child:
        return fuzz_main(args.child, args.seconds, extra)
    env = {**os.environ, "NNZERO_MAX_BYTES": "64M"}
    src = str(HERE.parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "") if (HERE.parents[1] / "src").is_dir() else \
        env.get("PYTHONPATH", "")
    failed = []
    for name in args.targets:
        if name not in TARGETS:
            p.error(f"unknown target {name!r}; expected some of {', '.join(TARGETS)}")
        print(f"fuzzing {name} for {args.seconds} s", flush=True)
        r = subprocess.run([sys.executable, __file__, "--child", name, "--seconds", str(args.seconds), *extra],
                           env=env, capture_output=True, text=True)
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-25:])
        stats = [line for line in tail.splitlines() if line.startswith(("stat::number_of_executed_units",
                                                                        "stat::new_units_added"))]
        print("  " + ("; ".join(stats) or "no stats"), flush=True)
        if r.returncode != 0:
            failed.append(name)
            print(f"  {name}: FAILED (exit {r.returncode})\n{tail}", flush=True)
    if failed:
        print(f"fuzzing found problems in: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("fuzzing: no crash, hang or non-nnzero exception", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
