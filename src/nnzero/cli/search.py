"""``nnzero search``: a hyperparameter search over ``nnzero train`` settings, locally or on Dask."""

import argparse
import copy
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import preprocessing, rows, safety, search
from .._atomic import atomic_write
from ..console import progress_bar, table
from ..errors import ConfigError, DataError
from . import augment_flags, common, terminal, train, train_start

DESCRIPTION = """\
Train one network per combination of settings, score each on validation rows, rank them, and
retrain the best on all the training rows (best.safetensors).

'--param NAME=V1,V2,...' gives the values to try for any 'nnzero train' setting (hidden, lr,
dropout, batch-size, optimizer, augment, aug-rotate, ...; hidden layers as 512-256). Every
combination is tried (a grid), or with '--trials N', N random draws from the lists or from
ranges 'NAME=LOW..HIGH' ('..HIGH:log' for log-uniform, e.g. lr=1e-4..1e-2:log). The other flags
set what all trials share.

Scoring: a stratified '--validation-split' (default 0.2) of the training rows, or '--folds K'
stratified folds (the mean over folds). Trials run in '--workers N' local processes (default:
one per CPU core), or on a Dask cluster with '--scheduler tcp://HOST:PORT' (the data are sent
to each worker once). Each trial's seed comes from '--seed' and its index, so the table is the
same whatever runs it. A failing or diverging trial is recorded with its error; Ctrl-C keeps the
finished trials (results.csv, results.json) and exits with code 130."""

EPILOG = """\
examples:
  nnzero search --param hidden=256,512 --param lr=0.001,0.003 --param dropout=0,0.2 --epochs 10
  nnzero search --data d.csv --param lr=1e-4..1e-2:log --param hidden=64,128 --trials 12 --folds 3
  nnzero search --param lr=0.001,0.003 --scheduler tcp://10.0.0.5:8786 --out-dir search/"""

#: settings a search may vary: the dests of nnzero train's flags
SEARCHABLE = (*train.RECIPE_FLAGS, "early_stopping", "augment",
              *(dest for dest in augment_flags.FLAGS if dest != "image_shape"))


def add_parser(subparsers):
    p = subparsers.add_parser("search", help="hyperparameter search, locally or on a Dask cluster",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_setting_arguments(p)
    train.add_data_arguments(p)
    g = p.add_argument_group("search")
    g.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                   help="values to try: NAME=V1,V2 (a list) or NAME=LOW..HIGH[:log] (a range, with --trials)")
    g.add_argument("--trials", type=common.positive_int, metavar="N", help="N random trials instead of the grid")
    g.add_argument("--folds", type=common.positive_int, metavar="K", help="K-fold cross-validation (K ≥ 2)")
    g.add_argument("--workers", type=common.positive_int, metavar="N",
                   help="local worker processes (default: the number of CPU cores)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--out-dir", metavar="DIR", default="search", help="where results and best.safetensors go")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    p.set_defaults(search_actions={a.dest: a for a in p._actions})
    return p


def parse_params(texts, actions, random):
    """['lr=0.001,0.003', 'hidden=64-32,128'] → {dest: [values] or search.Range}, each value
    converted and checked by the matching nnzero train flag."""
    space = {}
    for text in texts:
        name, sep, values = text.partition("=")
        dest = name.strip().lstrip("-").replace("-", "_")
        if not sep or not values.strip():
            raise ConfigError(f"--param expects NAME=VALUES, e.g. lr=0.001,0.003; got {text!r}")
        if dest not in SEARCHABLE:
            raise ConfigError(f"--param {name}: not a setting a search can vary; expected one of "
                              f"{', '.join(sorted(SEARCHABLE))}")
        if dest in space:
            raise ConfigError(f"--param {name} is given twice")
        space[dest] = _values(dest, values.strip(), actions[dest], random)
    if not space:
        raise ConfigError("give at least one --param NAME=V1,V2 to search over")
    return space


def _convert(action, dest, text):
    if dest == "hidden":
        text = text.replace("-", ",")
    try:
        value = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ConfigError(f"--param {dest}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"--param {dest}: {text!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def _values(dest, text, action, random):
    if ".." in text:
        if not random:
            raise ConfigError(f"--param {dest}={text}: a range needs --trials N (a grid needs a list)")
        body, _, scale = text.partition(":")
        low, _, high = body.partition("..")
        if scale not in ("", "log"):
            raise ConfigError(f"--param {dest}={text}: a range ends in ':log' or nothing")
        lo, hi = _convert(action, dest, low), _convert(action, dest, high)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise ConfigError(f"--param {dest}: a range needs numbers, e.g. {dest}=0.1..0.5")
        return search.Range(lo, hi, log=scale == "log", integer=isinstance(lo, int) and isinstance(hi, int))
    values = [_convert(action, dest, v.strip()) for v in text.split(",")]
    return values


def _show(value):
    """A setting's value for tables and CSV: [512, 256] → '512-256', None → 'full'."""
    if isinstance(value, list):
        return "-".join(map(str, value)) or "none"
    if value is None:
        return "full"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _jobs(args, space):
    trials = search.sample(space, args.trials, args.seed or 0) if args.trials else search.grid(space)
    jobs = []
    for index, params in enumerate(trials):
        ns = copy.copy(args)
        for dest, value in params.items():
            if isinstance(space[dest], search.Range):       # a draw passes the flag's checks too
                _convert(args.search_actions[dest], dest, repr(value))
            setattr(ns, dest, value)
        settings = train._settings(ns)
        settings.pop("preprocessing")
        jobs.append({"index": index, "settings": settings, "params": {k: _json(v) for k, v in params.items()},
                     "seed": search.trial_seed(args.seed or 0, index)})
    return jobs


def _json(value):
    return value if not isinstance(value, (np.integer, np.floating)) else value.item()


def _model_inputs(X, spec, dtype):
    """Raw rows → preprocessed model inputs, checked finite (streamed for a memory map)."""
    if rows.is_lazy(X):
        lazy = X if isinstance(X, rows.LazyRows) else rows.LazyRows(X)
        return lazy.preprocessed(spec, dtype).check_finite()
    X = preprocessing.apply(np.asarray(X), spec, dtype)
    if not np.isfinite(X).all():
        raise DataError("the data contain NaN or infinite values (after preprocessing)")
    return X


def run(args):
    if args.scheduler is not None and args.workers is not None:
        raise ConfigError("give --workers (local processes) or --scheduler (a Dask cluster), not both")
    space = parse_params(args.param, args.search_actions, random=bool(args.trials))
    base = train._settings(args)
    jobs = _jobs(args, space)
    out_dir = safety.check_output_folder(args.out_dir, "--out-dir", inputs=[("--data", args.data)],
                                         files=("results.json", "results.csv", "best.safetensors"))
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = base["seed"]
    source = train._source(args)
    data = train._load_data(source, seed)
    spec, why = train_start.choose_preprocessing(args, base.pop("preprocessing"), source, data["train"][0])
    X, y = data["train"]
    X = _model_inputs(X, spec, base["dtype"])
    classes = np.unique(np.concatenate([y, data["test"][1]]) if data["test"] else y)
    folds = search.splits(y, args.folds, args.validation_split or 0.2, seed)
    shared = search.TrialData(X, y, folds, classes)
    workers = args.workers or (1 if args.scheduler else _cpu_count())
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else \
        f"{workers} local process{'es' if workers > 1 else ''}" if workers > 1 else "this process"
    scoring = f"{args.folds}-fold cross-validation" if args.folds else \
        f"a {args.validation_split or 0.2:g} validation split"
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    log(f"search: {len(jobs)} trials over {', '.join(space)} on {data['name']} ({len(y)} rows, {scoring}), "
        f"in {where}; preprocessing {common.describe_preprocessing(spec)} ({why})")

    bar = _Bar(len(jobs), args.quiet)
    t0 = time.perf_counter()
    try:
        results = search.run(jobs, shared, workers=workers, scheduler=args.scheduler, on_result=bar.update)
    except KeyboardInterrupt as exc:
        bar.close()
        finished = getattr(exc, "results", [])
        _write_results(out_dir, finished, space)
        terminal.say(f"nnzero: interrupted; {len(finished)} of {len(jobs)} trials finished, their results "
                     f"are in {out_dir / 'results.csv'}")
        return 130
    bar.close()
    seconds = time.perf_counter() - t0
    _write_results(out_dir, results, space)
    print(ranked_table(results, space))
    print(f"{len(results)} trials in {seconds:.1f}s ({len(results) / seconds:.2f} trials/s); "
          f"results in {out_dir / 'results.csv'} and results.json")
    return _retrain_best(results, jobs, shared, data, spec, out_dir)


def _cpu_count():
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class _Bar:
    """A tqdm bar over trials on a terminal; one line per finished trial otherwise."""

    def __init__(self, total, quiet):
        self.total, self.quiet, self.count, self.bar = total, quiet, 0, None
        if not quiet and sys.stdout.isatty():
            self.bar = progress_bar(total, "trial", "trials")

    def update(self, row):
        self.count += 1
        text = (f"val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}" if row["status"] == "ok"
                else row["status"])
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"last: #{row['trial']} {text}")
        elif not self.quiet:
            params = " ".join(f"{k}={_show(v)}" for k, v in row["params"].items())
            print(f"trial {self.count}/{self.total}: #{row['trial']} {params}  {text}  {row['seconds']:.1f}s",
                  flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _rank(results):
    ok = sorted((r for r in results if r["status"] == "ok"), key=lambda r: (r["val_loss"], r["trial"]))
    return ok + [r for r in results if r["status"] != "ok"]


def ranked_table(results, space):
    """The trials best first (lowest validation loss), failed ones last."""
    rows_ = [["rank", "trial", *space, "val_loss", "val_acc", "epochs", "seconds", "status"]]
    for rank, r in enumerate(_rank(results), 1):
        rows_.append([str(rank) if r["status"] == "ok" else "-", str(r["trial"]),
                      *(_show(r["params"][k]) for k in space), common.fmt(r["val_loss"]),
                      common.fmt(r["val_accuracy"]), _show(r["epochs"]) if r["epochs"] is not None else "-",
                      f"{r['seconds']:.1f}", r["status"]])
    return table(rows_)


def _write_results(out_dir, results, space):
    """results.json (every field) and results.csv (one row per trial), in trial order, atomically."""
    doc = json.dumps({"trials": results}, indent=1, default=_json)
    with atomic_write(out_dir / "results.json") as f:
        f.write((doc + "\n").encode())
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["trial", *space, "val_loss", "val_accuracy", "epochs", "seconds", "worker", "status", "error"])
    for r in results:
        w.writerow([r["trial"], *(_show(r["params"][k]) for k in space),
                    *("" if r[k] is None else repr(r[k]) for k in ("val_loss", "val_accuracy", "epochs")),
                    f"{r['seconds']:.3f}", r["worker"], r["status"], r["error"] or ""])
    with atomic_write(out_dir / "results.csv") as f:
        f.write(text.getvalue().encode())


def _retrain_best(results, jobs, shared, data, spec, out_dir):
    ranked = [r for r in _rank(results) if r["status"] == "ok"]
    if not ranked:
        print("nnzero: error: every trial failed; see results.csv for their errors", file=sys.stderr)
        return 2
    best = ranked[0]
    settings = dict(jobs[best["trial"]]["settings"])
    epochs = settings["epochs"]
    if settings.get("early_stopping"):        # no validation rows now: as many epochs as it ran
        epochs = max(1, int(round(best["epochs"])))
    settings.update(epochs=epochs, early_stopping=None, validation_split=0.0)
    params = " ".join(f"{k}={_show(v)}" for k, v in best["params"].items())
    print(f"best: trial {best['trial']} ({params}); retraining on all {len(shared.y)} training rows")
    model = search.retrain(settings, shared, settings["seed"], epochs)
    if data["test"] is not None:
        X_test = common.model_inputs(model, data["test"][0], spec)
        result = model.evaluate(X_test, data["test"][1])
        print(f"test accuracy {100 * result['accuracy']:.2f}%  (loss {result['loss']:.4f}, {len(X_test)} samples)")
    dataset_meta = {k: v for k, v in data.items() if k not in ("train", "test")}
    settings["search"] = {"trial": best["trial"], "params": best["params"], "val_loss": best["val_loss"],
                          "val_accuracy": best["val_accuracy"], "trials": len(results)}
    path = out_dir / "best.safetensors"
    model.save(path, preprocessing=spec, training=settings, dataset=dataset_meta)
    print(f"saved {path}")
    return 0
