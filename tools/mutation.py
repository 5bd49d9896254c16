"""Mutation testing with mutmut, module by module, each against the fast tests that cover it.

    pip install "mutmut>=3.3"                 # not in any extra: a tool, run by hand, not in CI
    python tools/mutation.py                   # every module below (tens of minutes on 2 cores)
    python tools/mutation.py callbacks losses  # some of them
    python tools/mutation.py --report docs/mutation.md   # also write the Markdown report

mutmut changes one thing at a time in the source (``<`` → ``<=``, ``+`` → ``-``, a constant, a
dropped argument, ...) and runs the tests that reach the changed function; a mutant is *killed*
when a test fails. For each module the script copies the working tree to a temporary folder,
writes a ``[tool.mutmut]`` section naming that module and its tests, runs ``mutmut run`` there and
collects the counts and the diff of every surviving mutant. The score is killed / (killed +
survived + timeout), over the mutants some selected test reaches; "no tests" counts mutants in
functions the selected (fast) tests never call, e.g. text formatting or the long-run paths.

Raw counts and survivors go to ``benchmarks/results/mutation.json``; docs/mutation.md explains the
survivors (equivalent mutants, or why a test does not pin them down).
"""

import argparse
import ast
import datetime
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module name → (files to mutate, pytest arguments selecting its fast tests)
MODULES = {
    "callbacks": (["src/nnzero/callbacks.py"],
                  ["tests/test_bug_classes.py", "tests/test_training.py", "-k", "early or callback or history"]),
    "losses": (["src/nnzero/losses.py"], ["tests/test_losses.py", "tests/test_hand_worked.py"]),
    "optimizers": (["src/nnzero/optimizers.py"],
                   ["tests/test_optimizers.py", "tests/test_engine.py", "tests/test_subnormals.py",
                    "tests/test_bug_classes.py", "-k", "not cli and not report and not mnist"]),
    "engine": (["src/nnzero/engine.py"],
               ["tests/test_engine.py", "tests/test_fixtures.py", "tests/test_subnormals.py",
                "tests/test_model.py", "-k", "not mnist"]),
    "atomic writes": (["src/nnzero/_atomic.py"],
                      ["tests/test_bug_classes.py", "tests/test_io.py", "-k", "durabl or killed or fsync or atomic or temporary"]),
    # PyTorch reading the weights (10 s to import torch) and the killed writer (a subprocess) test
    # the writer; the reader's mutants are judged by the rest.
    "model-file reader": (["src/nnzero/modelfile.py"],
                          ["tests/test_model_file_checks.py", "tests/test_io.py", "tests/test_integrity.py",
                           "tests/test_metadata.py", "-k", "not pytorch_reads and not killed_writer"]),
    "model-file load": (["src/nnzero/serialization.py"],
                        ["tests/test_model_file_checks.py", "tests/test_io.py", "tests/test_integrity.py",
                         "tests/test_metadata.py", "tests/test_custom_layer.py",
                         "-k", "not pytorch_reads and not killed_writer"]),
    "training loop": (["src/nnzero/training.py"],
                      ["tests/test_training.py", "tests/test_bug_classes.py", "-k", "not cli and not report"]),
    "CLI predict/evaluate": (["src/nnzero/cli/predict.py", "src/nnzero/cli/evaluate.py"],
                             ["tests/test_cli_predict_evaluate.py", "tests/test_bug_classes.py",
                              "-k", "predict or evaluate or cli"]),
}

COUNTS = ("killed", "survived", "timeout", "suspicious", "no_tests", "skipped", "segfault", "total")


def toml_list(items):
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def mutmut_section(files, tests):
    return ("\n[tool.mutmut]\n"
            'source_paths = ["src/nnzero"]\n'
            f"only_mutate = {toml_list(files)}\n"
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-n", "0", "-p", "no:timeout"]\n'
            "use_git_change_detection = false\n")


def prepare(work, files, tests):
    """A fresh copy of the tree at ``work``; or, when ``work`` holds an earlier run, its tests and
    selection brought up to date (mutmut then collects coverage for the new tests only)."""
    again = (work / "mutants").is_dir()
    if again:
        shutil.copytree(ROOT / "tests", work / "tests", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    else:
        shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(
            ".git", "__pycache__", "mutants", "*.egg-info", ".venv", "runs", "report"))
    with open(work / "pyproject.toml", "a") as f:
        f.write(mutmut_section(files, tests))
    return again


def statuses(work, mutmut, env):
    results = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True,
                             text=True).stdout
    return dict(re.findall(r"^\s*(\S+): (\S+)$", results, re.M))


def mutant_diffs(work, files, names):
    """{mutant name: diff of its function against the original}, read from mutmut's copy of each
    file (where every mutant is a function ``<name>__mutmut_<n>`` beside ``<name>__mutmut_orig``);
    a second per survivor, where ``mutmut show`` takes seconds."""
    diffs = {}
    for file in files:
        src = (work / "mutants" / file).read_text()
        lines = src.splitlines()
        funcs = {node.name: lines[node.lineno - 1:node.end_lineno] for node in ast.walk(ast.parse(src))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for name in names:
            short = name.rsplit(".", 1)[-1]
            orig = funcs.get(short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
            if orig is None or short not in funcs:
                continue
            body = difflib.unified_diff(orig[1:], funcs[short][1:], file, file, n=1, lineterm="")
            diffs[name] = f"# {name}\n" + "\n".join(body)
    return diffs


def run_module(name, files, tests, mutmut, children, keep=None):
    """Mutate ``files`` against ``tests``. With ``keep`` (a folder), the working copy stays there;
    a later call with the same folder reruns only the mutants that survived (or were not run)
    against the tests as they are now, keeping the earlier kills."""
    with tempfile.TemporaryDirectory(prefix="nnzero-mutation-") as tmp:
        work = Path(keep) if keep else Path(tmp) / "repo"
        again = prepare(work, files, tests)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env.pop("CI", None)
        run = [mutmut, "run", "--max-children", str(children)]
        subprocess.run(run, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if again:      # the mutants left from the last run, against the current tests
            left = [m for m, st in statuses(work, mutmut, env).items() if st in ("survived", "timeout", "suspicious")]
            if left:
                subprocess.run(run + left, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([mutmut, "export-cicd-stats"], cwd=work, env=env, capture_output=True)
        stats_file = work / "mutants" / "mutmut-cicd-stats.json"
        if not stats_file.exists():
            return {"error": "mutmut produced no stats (did the clean test run fail?)"}
        stats = json.loads(stats_file.read_text())
        left = {m: st for m, st in statuses(work, mutmut, env).items() if st in ("survived", "timeout", "suspicious")}
        diffs = mutant_diffs(work, files, left)
        survivors = [{"mutant": m, "status": st, "diff": diffs.get(m, "")} for m, st in left.items()]
    counts = {k: stats.get(k, 0) for k in COUNTS}
    reached = counts["killed"] + counts["survived"] + counts["timeout"] + counts["suspicious"]
    counts["score"] = round(counts["killed"] / reached, 4) if reached else None
    return {"files": files, "tests": tests, **counts, "survivors": survivors}


def commit():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def markdown(data):
    lines = ["| module | files | mutants | killed | survived | timeout | no tests | score |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in data["modules"].items():
        if "error" in r:
            lines.append(f"| {name} | | | | | | | {r['error']} |")
            continue
        score = "–" if r["score"] is None else f"{100 * r['score']:.1f} %"
        lines.append(f"| {name} | {', '.join(f'`{f}`' for f in r['files'])} | {r['total']} | {r['killed']} | "
                     f"{r['survived']} | {r['timeout']} | {r['no_tests']} | {score} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"any of {sorted(MODULES)} (default: all)")
    ap.add_argument("--mutmut", default=shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut")))
    ap.add_argument("--children", type=int, default=2, help="parallel mutants (default 2)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mutation.json"))
    ap.add_argument("--keep", metavar="DIR", help="keep each module's working copy in DIR/<module>; run again "
                    "with the same DIR after adding tests to rerun only the survivors")
    args = ap.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        ap.error(f"unknown modules {sorted(unknown)}; expected any of {sorted(MODULES)}")
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {"modules": {}}
    data.update(commit=commit(), date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                load_average_at_start=os.getloadavg())
    for name in args.modules or list(MODULES):
        files, tests = MODULES[name]
        print(f"{name}: mutating {', '.join(files)} against {' '.join(tests)}", flush=True)
        keep = Path(args.keep) / name.replace(" ", "-").replace("/", "-") if args.keep else None
        data["modules"][name] = {**run_module(name, files, tests, args.mutmut, args.children, keep),
                                 "commit": data["commit"], "date": data["date"]}
        r = data["modules"][name]
        print(f"  {r.get('killed')} killed, {r.get('survived')} survived, {r.get('no_tests')} not reached, "
              f"score {r.get('score')}", flush=True)
        out.write_text(json.dumps(data, indent=1) + "\n")      # after each module: a long run can stop
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
