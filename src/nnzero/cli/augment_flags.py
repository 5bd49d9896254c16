"""``nnzero train``'s augmentation flags: ``--augment [PRESET]`` and the warp's settings."""

import argparse

from ..augment import DEFAULTS, PRESETS, Augment
from ..errors import ConfigError
from . import common

# flag dest -> Augment keyword
FLAGS = {"aug_shift": "shift", "aug_rotate": "rotate", "aug_scale": "scale", "aug_shear": "shear",
         "aug_elastic": "elastic", "aug_elastic_sigma": "elastic_sigma", "image_shape": "image_shape"}
BARE = "elastic"      # what a bare --augment means


def image_shape(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, e.g. 28x28, got {text!r}") from None
    return [h, w]


def add_arguments(p):
    g = p.add_argument_group(
        "augmentation (image inputs)",
        "Warp every training batch afresh: random shift, rotation, scale, shear and elastic deformation. "
        f"Presets: {', '.join(f'{k} ({_describe(v)})' for k, v in PRESETS.items())}. A setting flag "
        "alone starts from the recipe's augmentation, or from 'affine'.")
    g.add_argument("--augment", nargs="?", const=BARE, choices=[*sorted(PRESETS), "none"], metavar="PRESET",
                   help=f"augment the training images ({'/'.join(sorted(PRESETS))}, 'none' to turn a recipe's "
                        f"off; bare: {BARE})")
    g.add_argument("--aug-shift", type=common.non_negative_float, metavar="PX", help="shift up to ±PX pixels")
    g.add_argument("--aug-rotate", type=common.non_negative_float, metavar="DEG", help="rotate up to ±DEG degrees")
    g.add_argument("--aug-scale", type=common.fraction, metavar="F", help="scale by a factor in [1-F, 1+F]")
    g.add_argument("--aug-shear", type=common.non_negative_float, metavar="K", help="shear x += k·y, |k| ≤ K")
    g.add_argument("--aug-elastic", type=common.non_negative_float, metavar="PX",
                   help="elastic displacement, standard deviation in pixels (0: none)")
    g.add_argument("--aug-elastic-sigma", type=common.positive_float, metavar="PX",
                   help="smoothness of the elastic field in pixels (default 4)")
    g.add_argument("--image-shape", type=image_shape, metavar="HxW",
                   help="image size of the input rows (default: square)")


def settings(args, recipe_augment):
    """The run's augmentation settings (a dict, or None for none) from the recipe's and the flags."""
    given = {key: getattr(args, dest) for dest, key in FLAGS.items() if getattr(args, dest) is not None}
    if args.augment == "none":
        if given:
            raise ConfigError(f"--augment none cannot be combined with --{next(iter(_flag(given)))}")
        return None
    if args.augment is not None:
        base = {**DEFAULTS, **PRESETS[args.augment]}
    elif given:
        base = {**DEFAULTS, **(recipe_augment or PRESETS["affine"])}
    elif recipe_augment:
        base = {**DEFAULTS, **recipe_augment}
    else:
        return None
    return Augment(**{**base, **given}).config()            # validated, every key present


def _flag(given):
    return ["aug-" + k.replace("_", "-") if k != "image_shape" else "image-shape" for k in given]


def given(args):
    """True if any augmentation flag was given."""
    return args.augment is not None or any(getattr(args, dest) is not None for dest in FLAGS)


def describe(config):
    """One line for the start banner and errors: 'shift 2 px, rotate 12°, ...' or 'none'."""
    return "none" if not config else _describe(config)


def _describe(c):
    parts = [f"shift {c['shift']:g} px", f"rotate {c['rotate']:g}°", f"scale ±{c['scale']:g}",
             f"shear {c['shear']:g}"]
    if c.get("elastic"):
        parts.append(f"elastic {c['elastic']:g} px (sigma {c.get('elastic_sigma', DEFAULTS['elastic_sigma']):g})")
    return ", ".join(parts)
