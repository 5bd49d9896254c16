"""What a training run starts from, and the start lines that say so: the weights of
--init-from (a warm start), the rows held out for validation, the input preprocessing (the
flag's, the recipe's, or one chosen from the training rows), and the banner naming network,
data, optimisation and preprocessing."""

import hashlib
import sys
import textwrap
from pathlib import Path

import numpy as np

from .. import rows, serialization
from ..errors import ConfigError
from ..layers import ACTIVATIONS, Dense
from . import augment_flags, common


def init_model(args, settings):
    """The model of --init-from, its architecture recorded in ``settings`` (flags that would
    change the architecture are errors: the weights fix it)."""
    if args.resume:
        raise ConfigError("give --resume or --init-from, not both")
    model = serialization.load(args.init_from)
    if not model.is_classifier:
        raise ConfigError(f"{args.init_from} is a regression model; nnzero train trains classifiers")
    for flag in ("hidden", "activation", "init", "dropout", "preprocessing"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag} cannot change the network of --init-from {args.init_from}; "
                              "its weights fix the architecture and input preprocessing")
    if args.dtype is not None and args.dtype != model.dtype.name:
        raise ConfigError(f"--dtype {args.dtype} differs from {args.init_from}'s {model.dtype.name}")
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    kinds = {cls: name for name, cls in ACTIVATIONS.items()}
    act = next((kinds[type(layer)] for layer in model.layers if type(layer) in kinds), settings["activation"])
    rates = [layer.rate for layer in model.layers if hasattr(layer, "rate")]
    with open(args.init_from, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    settings.update(hidden=[d.n_out for d in dense[:-1]], activation=act, dtype=model.dtype.name,
                    dropout=rates[-1] if rates else 0.0,
                    init_from={"path": str(Path(args.init_from).resolve()), "sha256": digest,
                               "test_accuracy": (model.metadata.get("training") or {}).get("test_accuracy")})
    return model


def validation_rows(y, fraction, seed):
    """(fit_rows, val_rows): the indices of the rows to train on and those held out for
    validation, or None without a split. The CLI splits before it fits the preprocessing, so
    that standardize's mean and std come from the training rows only (the held-out rows must not
    leak into what the model sees). The rows are those ``fit(validation_split=fraction,
    seed=seed)`` would hold out (its second spawned stream), so checkpoints written when fit
    split the data resume exactly; tests/test_preprocessing.py checks the two agree."""
    if not fraction:
        return None
    from ..training import stratified_split

    stream = np.random.SeedSequence(seed).spawn(3)[1]
    return stratified_split(np.asarray(y), fraction, np.random.Generator(np.random.PCG64(stream)))


def hold_out(X, y, split):
    """(X_fit, y_fit, validation_data): the rows to train on and the held-out (X_val, y_val),
    or all rows and None without a split (see :func:`validation_rows`)."""
    if split is None:
        return X, y, None
    fit_rows, val_rows = split
    return X[fit_rows], y[fit_rows], (X[val_rows], y[val_rows])


def choose_preprocessing(args, recipe_spec, source, X, split=None):
    """The run's preprocessing and why it was chosen: the flag's; for a named dataset the
    recipe's; for a file, the recipe's if its rows look like pixels, else standardize, fitted to
    the training rows (``split[0]`` when rows are held out for validation)."""
    if split is not None:
        X = X[split[0]]
    if args.preprocessing == "standardize":
        return rows.standardize(X), "set by --preprocessing standardize"
    if args.preprocessing is not None:
        return recipe_spec, f"set by --preprocessing {args.preprocessing}"
    if source["kind"] == "dataset":
        return recipe_spec, f"the {args.recipe or 'default'} recipe's"
    spec, reason = rows.choose(X, recipe_spec)
    return spec, f"chosen as the data have {reason} (--preprocessing to change)"


def banner(model, settings, data, resume, spec=None, why=None):
    """The start line(s): network, data (train / validation / test rows), optimisation and the
    preprocessing with the reason for it; wrapped to the terminal's width."""
    from ..console import terminal_width

    sizes = [model.n_features] + [layer.n_out for layer in model.layers if isinstance(layer, Dense)]
    batch = "full batch" if settings["batch_size"] is None else f"batch {settings['batch_size']}"
    sched = (settings.get("schedule") or {}).get("name", "constant")
    n_val = 0
    if settings["validation_split"]:        # as training.stratified_split rounds it, class by class
        counts = np.unique(data["train"][1], return_counts=True)[1]
        n_val = sum(int(round(settings["validation_split"] * c)) for c in counts)
    parts = [f"{data['n_train'] - n_val} train"] + ([f"{n_val} validation"] if n_val else []) + \
        [f"{data['n_test']} test rows"]
    lines = [f"training {'-'.join(map(str, sizes))} ({settings['activation']}) on {data['name']}: "
             f"{' / '.join(parts)}",
             f"{settings['optimizer']} lr {settings['lr']:g} {sched}, {settings['epochs']} epochs, {batch}, "
             f"seed {settings['seed']}"]
    if spec is not None and why is not None:
        lines.append(f"preprocessing {common.describe_preprocessing(spec)}; {why}")
    if settings.get("augment"):
        lines.append(f"augmentation: {augment_flags.describe(settings['augment'])}")
    if settings.get("init_from"):
        lines.append(f"starting from the weights of {settings['init_from']['path']} (fresh optimizer)")
    if resume is not None:
        lines.append(f"resuming after epoch {resume.epoch} of {resume.epochs}")
    if not sys.stdout.isatty():
        return "\n".join(lines)
    width = terminal_width()
    return "\n".join(textwrap.fill(line, width, subsequent_indent="    ", break_on_hyphens=False)
                     for line in lines)
