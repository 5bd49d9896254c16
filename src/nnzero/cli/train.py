"""``nnzero train``: train a classifier, save it, checkpoint it, resume it exactly."""

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

from .. import budget, preprocessing, recipes, rows, safety, serialization
from ..augment import Augment
from ..callbacks import EarlyStopping
from ..errors import ConfigError, DataError, TrainingDivergedError
from ..layers import ACTIVATIONS
from ..optimizers import OPTIMIZERS, SCHEDULES
from . import augment_flags, common, signals, terminal, train_start
from . import recorded as recorded_checks
from .checkpointing import Checkpointer
from .progress import EpochProgress

DESCRIPTION = """\
Train a feedforward classifier and save it as a safetensors model file.

With no arguments: the 'default' recipe (784-512-256-10 ReLU, dropout 0.1, Adam 2e-3 with a
cosine schedule, batch 256, 15 epochs, pixels scaled to [0, 1]) on the bundled MNIST, then the
test accuracy, and model.safetensors. '--recipe long' (1024-512, dropout on pixels and hidden
units, 40 epochs) goes further; '--recipe fast99' and '--recipe best' (784-800-800-10 trained on
randomly warped digits, see --augment) further still. '--recipe seed' reproduces the original
script (784-64-10, 0.1·randn weights, binarised pixels, 1000 steps of full-batch gradient descent
with lr 0.3). Any flag below overrides the recipe's value.

Data: '--dataset NAME' trains on its training split and tests on its test split.
'--data FILE' (CSV with a 'label' column, or NPZ with X and y) trains on the file; the test set
is '--test-data FILE' if given, else a stratified '--test-split' fraction (default 0.1) held out
with the run's seed ('--test-split 0': no test set, only training/validation metrics).

An existing model file at --out (default model.safetensors) is never overwritten without '--force'.

Ctrl-C, SIGTERM and SIGHUP save a checkpoint of the last completed epoch and exit (codes 130, 143,
129);
'nnzero train --resume CHECKPOINT' then finishes the run with exactly the weights an
uninterrupted run would have had. A resumed run keeps its recorded settings and data."""

EPILOG = """\
examples:
  nnzero train
  nnzero train --hidden 256 --epochs 5 --out small.safetensors
  nnzero train --recipe seed
  nnzero train --augment --epochs 30
  nnzero train --dataset fashion-mnist --early-stopping 3
  nnzero train --data digits.csv --preprocessing scale255 --checkpoint-every 1
  nnzero train --resume model.ckpt.safetensors"""

# flag dest -> recipe/settings key, for the options a recipe supplies
RECIPE_FLAGS = {"hidden": "hidden", "activation": "activation", "init": "init", "dropout": "dropout",
                "optimizer": "optimizer", "lr": "lr", "momentum": "momentum", "weight_decay": "weight_decay",
                "schedule": "schedule", "epochs": "epochs", "batch_size": "batch_size"}
RUN_FLAGS = {"validation_split": "validation_split", "early_stopping": "early_stopping", "dtype": "dtype",
             "recipe": "recipe", "seed": "seed", "preprocessing": "preprocessing"}


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train a model (default: MNIST) and save it",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_arguments(p)
    add_data_arguments(p)
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="PATH", help="model file to write (default model.safetensors)")
    g.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (default <out>.ckpt.safetensors)")
    g.add_argument("--checkpoint-every", type=common.positive_int, metavar="N", help="write a checkpoint every N epochs")
    g.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT")
    g.add_argument("--init-from", metavar="MODEL",
                   help="start from MODEL's weights (architecture, classes, preprocessing) with a fresh "
                        "optimizer: fine-tuning, or more epochs; recorded in the new file")
    g.add_argument("--force", action="store_true",
                   help="replace an existing model file at --out (otherwise refused)")
    g.add_argument("--quiet", action="store_true", help="no progress output, only the result")
    return p


def add_setting_arguments(p):
    """The recipe, architecture and optimisation flags (shared with ``nnzero search``)."""
    g = p.add_argument_group("recipe and architecture")
    g.add_argument("--recipe", choices=sorted(recipes.RECIPES), help="starting settings (default: default)")
    g.add_argument("--hidden", type=common.hidden_sizes, metavar="SIZES",
                   help="hidden layer sizes, comma-separated, e.g. 512,256 ('none': no hidden layer)")
    g.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden-layer activation")
    g.add_argument("--init", choices=["he", "glorot", "seed"], help="weight initialisation")
    g.add_argument("--dropout", type=common.fraction, metavar="RATE", help="dropout after each hidden layer, in [0, 1)")
    g.add_argument("--dtype", choices=["float32", "float64"], help="float type end to end (default float32)")
    augment_flags.add_arguments(p)
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=common.positive_int, metavar="N", help="passes over the training data")
    g.add_argument("--batch-size", type=common.batch_size, metavar="N", help="rows per step, or 'full'")
    g.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="update rule")
    g.add_argument("--lr", type=common.positive_float, metavar="LR", help="base learning rate")
    g.add_argument("--momentum", type=common.fraction, metavar="M", help="SGD momentum, in [0, 1)")
    g.add_argument("--schedule", choices=sorted(SCHEDULES), help="learning-rate schedule")
    g.add_argument("--weight-decay", type=common.non_negative_float, metavar="WD",
                   help="L2 penalty on weight matrices (decoupled for adamw)")
    g.add_argument("--seed", type=common.non_negative_int, metavar="N",
                   help="seeds initialisation, shuffling, dropout and splits (default 0)")
    g.add_argument("--validation-split", type=common.fraction, metavar="F",
                   help="fraction of the training rows held out for validation (default 0; 0.1 with --early-stopping)")
    g.add_argument("--diagnostics", action="store_true",
                   help="record per-layer statistics every epoch (activations, dead ReLUs, gradient and "
                        "update norms) in the model file, with warnings; 'nnzero report' plots them")
    g.add_argument("--early-stopping", type=common.positive_int, metavar="PATIENCE",
                   help="stop when val_loss has not improved for PATIENCE epochs; keep the best epoch's weights")


def add_data_arguments(p):
    """Where the rows come from, and their preprocessing (shared with ``nnzero search``)."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", metavar="NAME", help="mnist (bundled, default), fashion-mnist or kmnist")
    g.add_argument("--data-dir", metavar="DIR", help="read the dataset's four IDX files from DIR")
    g.add_argument("--data", metavar="FILE", help="train on a labelled CSV/NPZ file (or .npy with --labels) "
                   "instead of a dataset")
    g.add_argument("--test-data", metavar="FILE", help="with --data: a separate labelled test file")
    common.add_label_arguments(g, test=True)
    g.add_argument("--test-split", type=common.fraction, metavar="F",
                   help="with --data and no --test-data: fraction held out as the test set (default 0.1)")
    g.add_argument("--preprocessing", choices=sorted(common.PREPROCESSING),
                   help="input transform, stored in the model file (default: the recipe's, scale255 = x/255)")


def run(args, extra_callbacks=()):
    """Train as the flags in ``args`` say. ``extra_callbacks`` join the fit before the
    checkpointer (the studio streams the run with them; one may raise KeyboardInterrupt to stop
    it with a checkpoint, as Ctrl-C does)."""
    if args.resume:
        model, optimizer, resume = serialization.load_checkpoint(args.resume)
        doc = resume.metadata
        settings = _resumed_settings(args, doc)
        source = _resumed_source(args, recorded_checks.check_source(doc["dataset"] or {}, args.resume))
        spec, seed = doc["preprocessing"] or preprocessing.NONE, resume.seed
    else:
        resume = None
        settings = _settings(args)
        source = _source(args)
        spec, seed = settings.pop("preprocessing"), settings["seed"]
        init = train_start.init_model(args, settings) if args.init_from else None
    out, ckpt_path = _outputs(args, settings, source)   # before any work: never train for nothing
    data = _load_data(source, seed)
    split = train_start.validation_rows(data["train"][1], settings["validation_split"], seed)
    why = None
    if resume is None and init is not None:
        spec, why = init.metadata.get("preprocessing") or preprocessing.NONE, f"as in {args.init_from}"
    elif resume is None:                       # fitted to the training rows, not the validation rows
        spec, why = train_start.choose_preprocessing(args, spec, source, data["train"][0], split)
    if resume is not None and data["sha256"] != (doc["dataset"] or {}).get("sha256"):
        raise DataError(f"the training data differ from the data of the checkpoint {args.resume} "
                        "(sha256 mismatch); resume needs the same data")
    X_train, y_train = data["train"]
    classes = None
    if resume is None:
        model, classes, optimizer = _new_model(args, settings, source, data, init)
    X_train, y_train, validation = train_start.hold_out(common.model_inputs(model, X_train, spec), y_train, split)
    settings.update(out=str(out), checkpoint=str(ckpt_path))
    dataset_meta = {k: v for k, v in data.items() if k not in ("train", "test")}
    meta = {"preprocessing": spec, "training": settings, "dataset": dataset_meta}
    es, progress, checkpointer, per_run = _watchers(args, settings, resume, ckpt_path, meta)
    callbacks = [cb for cb in (es, progress, *extra_callbacks, checkpointer) if cb is not None]
    augment = Augment.from_config(settings["augment"]) if settings.get("augment") else None
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    log(train_start.banner(model, settings, data, resume, spec, why))
    try:
        if es is not None and resume is not None and es.replay(resume.history).finished:
            es.model = model                       # the checkpoint is of a run that already stopped
            es.on_train_begin({"resume": resume})
            es.on_train_end()
        else:
            model.fit(X_train, y_train, epochs=settings["epochs"], batch_size=settings["batch_size"],
                      optimizer=optimizer, validation_data=validation, callbacks=callbacks,
                      seed=seed, verbose=0 if args.quiet or per_run else 1, classes=classes, resume=resume,
                      diagnostics=bool(getattr(args, "diagnostics", False)), augment=augment)
        _test_and_save(model, data, spec, settings, out, meta)
    except KeyboardInterrupt as exc:            # Ctrl-C, SIGTERM, SIGHUP: keep the last whole epoch
        if progress is not None:
            progress.close()
        return _interrupted(model, checkpointer, settings, exc)
    except TrainingDivergedError as exc:
        raise TrainingDivergedError(_save_diverged(model, out, meta, exc), exc.history) from None
    return 0


def _new_model(args, settings, source, data, init):
    """(model, classes, optimizer) of a run that does not resume: ``init`` (--init-from) or the
    recipe's network for these data."""
    X_train, y_train = data["train"]
    _check_test_classes(source, data)
    classes = np.unique(np.concatenate([y_train, data["test"][1]]) if data["test"] else y_train)
    if init is not None:
        model, classes = init, init.classes_
        if X_train.shape[1] != model.n_features:
            raise DataError(f"the data have {X_train.shape[1]} features per row, but {args.init_from} "
                            f"expects {model.n_features}")
    else:
        _check_network_size(X_train.shape[1], settings["hidden"], len(classes), settings["dtype"])
        model = recipes.build_model(settings, X_train.shape[1], len(classes), dtype=settings["dtype"])
    return model, classes, recipes.build_optimizer(settings)


def _watchers(args, settings, resume, ckpt_path, meta):
    """The run's EarlyStopping (or None), epoch progress (or None), Checkpointer, and whether
    progress is one bar over the run (full-batch or long runs) rather than one per epoch."""
    es = None
    if settings["early_stopping"]:
        es = EarlyStopping(monitor="val_loss", patience=settings["early_stopping"])
    every = args.checkpoint_every if args.checkpoint_every is not None else settings.get("checkpoint_every")
    settings["checkpoint_every"] = every
    checkpointer = Checkpointer(ckpt_path, every, es, **meta)
    # Full-batch or very long runs: one bar (or a line per ~5 %) over the epochs, not one per epoch.
    per_run = settings["batch_size"] is None or settings["epochs"] > 100
    progress = EpochProgress(settings["epochs"], resume.epoch if resume else 0) if per_run and not args.quiet else None
    return es, progress, checkpointer, per_run


def _check_network_size(n_in, hidden, n_out, dtype):
    """The network's parameters, their gradients and the optimizer's two slots (about 4 copies)
    within the byte budget, before anything is allocated: `--hidden 1000000000` is a clear error."""
    sizes = [n_in, *hidden, n_out]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    budget.check(4 * params * np.dtype(dtype).itemsize,
                 f"the network {'-'.join(map(str, sizes))} ({params:,} parameters, with gradients and optimizer state)")


def _check_test_classes(source, data):
    """A --test-data label that training never saw would add a class the model cannot learn."""
    if not source.get("test_data") or data["test"] is None:
        return
    unseen = np.setdiff1d(data["test"][1], data["train"][1])
    if unseen.size:
        shown = ", ".join(map(str, unseen[:10].tolist())) + (", ..." if unseen.size > 10 else "")
        raise DataError(f"--test-data {source['test_data']} has {unseen.size} label(s) that the training data "
                        f"never have: {shown}; a model cannot learn a class it never sees")


def _test_and_save(model, data, spec, settings, out, meta):
    if data["test"] is not None:
        X_test = common.model_inputs(model, data["test"][0], spec)
        result = model.evaluate(X_test, data["test"][1])
        settings.update(test_accuracy=result["accuracy"], test_loss=result["loss"])  # saved below
        print(f"test accuracy {100 * result['accuracy']:.2f}%  (loss {result['loss']:.4f}, "
              f"{len(X_test)} samples)")
    else:
        h = model.history
        which = "val_accuracy" if settings["validation_split"] else "accuracy"
        print(f"no test set; final {which} {100 * h[which][-1]:.2f}%")
    model.save(out, **meta)
    print(f"saved {out}")


def _save_diverged(model, out, meta, exc):
    """Write the last good weights (after a whole epoch) to ``out``, noting why the run stopped;
    → the error message, saying what was written or that nothing was, and why."""
    state = model.train_state
    if state is None or state.epoch == 0:
        return f"{exc} Nothing was written to {out}: no epoch finished before it diverged."
    good = state.epoch
    model.save(out, **meta, history=state.history.first(good), notes={"diverged": str(exc)})
    return f"{exc} Saved the weights after epoch {good} to {out}."


def _outputs(args, settings, source):
    """(model path, checkpoint path), checked before any data is read: not an input, not a
    device/FIFO/folder, in a writable folder, and no model file replaced without --force."""
    out = Path(args.out or settings.get("out") or "model.safetensors")
    ckpt_path = Path(args.checkpoint or (settings.get("checkpoint") if not args.out else None)
                     or common.default_checkpoint_path(out))
    safety.check_distinct({"--out": out, "--checkpoint": ckpt_path})
    inputs = [("--data", source.get("path")), ("--test-data", source.get("test_data")), ("--resume", args.resume),
              ("--labels", source.get("labels")), ("--test-labels", source.get("test_labels")),
              ("--init-from", getattr(args, "init_from", None))]
    data_dir = source.get("data_dir")
    if data_dir and Path(data_dir).is_dir():
        inputs += [("--data-dir", str(p)) for p in Path(data_dir).iterdir()]
    safety.check_output(out, "--out", inputs=inputs, writes="model", force=args.force)
    # A resumed run rewrites its own checkpoint: that one input may be replaced.
    ck_inputs = [i for i in inputs if i[0] != "--resume"]
    safety.check_output(ckpt_path, "--checkpoint", inputs=ck_inputs, writes="checkpoint", force=args.force)
    return out, ckpt_path


def _settings(args):
    """The run's settings: the recipe's, overridden by the flags given."""
    settings = recipes.get(args.recipe or "default")
    for dest, key in RECIPE_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            settings[key] = {"name": value} if key == "schedule" else value
    if args.preprocessing is not None:
        settings["preprocessing"] = common.PREPROCESSING[args.preprocessing]
    split = args.validation_split
    if args.early_stopping and not split:
        split = 0.1                  # early stopping watches val_loss, so it needs validation rows
    settings["augment"] = augment_flags.settings(args, settings.get("augment"))
    settings.update(recipe=args.recipe or "default", dtype=args.dtype or "float32",
                    seed=0 if args.seed is None else args.seed, validation_split=split or 0.0,
                    early_stopping=args.early_stopping)
    if settings["momentum"] and settings["optimizer"] != "sgd":
        raise ConfigError(f"--momentum applies to --optimizer sgd, not {settings['optimizer']}")
    recipes.build_optimizer(settings)   # invalid optimizer settings fail before the data are loaded
    return settings


def _resumed_settings(args, doc):
    """The checkpoint's settings; a flag that would change them is an error (resume is exact)."""
    settings = doc["training"] or {}
    needed = {*RECIPE_FLAGS.values(), *RUN_FLAGS.values()} - {"preprocessing"}
    if not needed <= set(settings):
        raise ConfigError(f"{args.resume} was not written by 'nnzero train' (its settings are not "
                          "recorded); resume it from Python with model.fit(..., resume=state)")
    recorded_checks.check_settings(settings, args.resume)
    recorded = {**settings, "preprocessing": doc["preprocessing"]}
    for dest, key in {**RECIPE_FLAGS, **RUN_FLAGS}.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if key == "schedule":
            value = {"name": value} if (recorded[key] or {}).get("name") != value else recorded[key]
        if key == "preprocessing":
            value = common.PREPROCESSING[value]
            if value["kind"] == "standardize" and (recorded[key] or {}).get("kind") == "standardize":
                value = recorded[key]                # fitted to the same training rows
        if value != recorded[key]:
            flag = "--" + dest.replace("_", "-")
            raise ConfigError(f"{flag} {getattr(args, dest)} differs from the checkpoint's {recorded[key]!r}; "
                              "a resumed run keeps its settings (start a new run to change them)")
    if augment_flags.given(args) and augment_flags.settings(args, settings.get("augment")) != settings.get("augment"):
        raise ConfigError(f"the augmentation flags differ from the checkpoint's augmentation "
                          f"({augment_flags.describe(settings.get('augment'))}); a resumed run keeps its settings")
    return dict(settings)


def _source(args):
    if args.data is not None:
        if args.dataset is not None or args.data_dir is not None:
            raise ConfigError("give --data FILE or --dataset/--data-dir, not both")
        if args.test_data is not None and args.test_split is not None:
            raise ConfigError("give --test-data or --test-split, not both")
        split = 0.0 if args.test_data is not None else 0.1 if args.test_split is None else args.test_split
        return {"kind": "file", "path": args.data, "test_data": args.test_data, "test_split": split,
                "label_column": args.label_column, "labels": args.labels, "test_labels": args.test_labels}
    if args.label_column is not None or args.labels is not None or args.test_labels is not None:
        raise ConfigError("--label-column, --labels and --test-labels apply to --data files")
    if args.test_data is not None or args.test_split is not None:
        raise ConfigError("--test-data and --test-split apply to --data; a --dataset has its own test set")
    return {"kind": "dataset", "name": args.dataset or "mnist", "data_dir": args.data_dir}


def _resumed_source(args, recorded):
    """Where the checkpoint's data was; --data/--dataset/--data-dir may point to a moved copy."""
    source = {k: recorded.get(k) for k in ("kind", "name", "path", "data_dir", "test_data", "test_split",
                                           "label_column", "labels", "test_labels")}
    if args.data is not None:
        source.update(kind="file", path=args.data)
    for key in ("label_column", "labels", "test_labels"):
        if getattr(args, key) is not None:
            source[key] = getattr(args, key)
    if args.dataset is not None or args.data_dir is not None:
        source.update(kind="dataset", name=args.dataset or source["name"], data_dir=args.data_dir)
    if args.test_data is not None:
        source["test_data"] = args.test_data
    if args.test_split is not None and args.test_split != (source["test_split"] or 0.0):
        raise ConfigError(f"--test-split {args.test_split} differs from the checkpoint's "
                          f"{source['test_split']}; it decides the training rows, so it cannot change")
    if source["kind"] not in ("file", "dataset"):
        raise ConfigError(f"the checkpoint {args.resume} does not record its data; give --data or --dataset")
    return source


def _load_data(source, seed):
    """→ {"train": (X, y), "test": (X, y) or None, "kind", "name", "sha256", ...}, raw (unpreprocessed)."""
    from .. import datasets
    from ..training import stratified_split

    if source["kind"] == "dataset":
        train, test = datasets.load_dataset(source["name"], data_dir=source.get("data_dir"))
        name = datasets.get_spec(source["name"]).name
        info = {"kind": "dataset", "name": name, "data_dir": source.get("data_dir")}
    else:
        column = source.get("label_column")
        # X.npy with --labels is memory-mapped: read batch by batch, never loaded whole.
        train = common.load_labelled(source["path"], "--data", column, source.get("labels"), mmap=True)
        test, split = None, source.get("test_split") or 0.0
        if source.get("test_data"):
            test = common.load_labelled(source["test_data"], "--test-data", column, source.get("test_labels"))
        info = {"kind": "file", "name": Path(source["path"]).name, "path": str(Path(source["path"]).resolve()),
                "test_data": source.get("test_data"), "test_split": split, "label_column": column,
                "labels": source.get("labels"), "test_labels": source.get("test_labels")}
    info["sha256"] = datasets.dataset_checksum(*train)
    if rows.is_lazy(train[0]):
        train = (rows.LazyRows(train[0]), train[1])   # the split below indexes it without reading
    if source["kind"] == "file" and not source.get("test_data") and info["test_split"]:
        # Its own stream, derived from the seed, so a resumed run holds out the same rows.
        rng = np.random.default_rng([seed, 0x7E57])
        try:
            tr, te = stratified_split(train[1], info["test_split"], rng)
        except DataError:
            raise DataError(f"--test-split {info['test_split']} leaves no rows to train on or none to test on "
                            f"among the {len(train[1])} rows of {source['path']}; use a fraction like 0.1 "
                            "to 0.3") from None
        train, test = (train[0][tr], train[1][tr]), (train[0][te], train[1][te])
    if test is not None and test[0].shape[1] != train[0].shape[1]:
        raise DataError(f"the test data have {test[0].shape[1]} features per row, the training data "
                        f"{train[0].shape[1]}")
    info.update(n_train=len(train[0]), n_test=0 if test is None else len(test[0]), train=train, test=test)
    return info


def _interrupted(model, checkpointer, settings, exc):
    state = model.train_state
    what = signals.name(exc)
    if state is None or state.epoch == 0:
        terminal.say(f"nnzero: {what} before the first epoch finished; nothing saved")
        return signals.exit_code(exc)
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    checkpointer.save()
    path = checkpointer.path
    # (SIGHUP: the terminal may be gone; then the line is dropped, the file is saved.)
    terminal.say(f"nnzero: {what}; saved a checkpoint after epoch {state.epoch} of {settings['epochs']} "
                 f"to {path}; continue with: nnzero train --resume {path}")
    return signals.exit_code(exc)
