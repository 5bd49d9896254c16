"""`import nnzero` is lazy (PEP 562): it imports no NumPy until a name is used, yet every public
name, `dir()`, `help()` and `from nnzero import X` work as with an eager package."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nnzero as nz

SRC = Path(nz.__file__).resolve().parents[1]
INIT = SRC / "nnzero" / "__init__.py"


def _fresh(code):
    """Run ``code`` in a fresh interpreter (this one has imported everything already)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_importing_the_package_or_the_command_line_loads_no_numpy_and_no_argparse():
    loaded = _fresh("import sys, nnzero, nnzero.cli; print(nnzero.__version__);"
                    "print(*sorted(m for m in ('numpy', 'argparse', 'nnzero.layers', 'nnzero.model') "
                    "if m in sys.modules))")
    assert loaded == [nz.__version__]


def test_a_name_loads_its_module_on_first_use():
    assert _fresh("import sys, nnzero as nz; nz.Dense; print('numpy' in sys.modules, 'nnzero.layers' in sys.modules,"
                  "'nnzero.model' in sys.modules)") == ["True", "True", "False"]


def test_every_public_name_resolves_to_where_it_is_defined():
    from nnzero import errors, layers, model, optimizers, serialization

    assert nz.Dense is layers.Dense and nz.Sequential is model.Sequential and nz.Adam is optimizers.Adam
    assert nz.load is serialization.load and nz.DataError is errors.DataError
    for name in nz.__all__:
        assert getattr(nz, name) is not None, name
    namespace = {}
    exec("from nnzero import *", namespace)
    assert set(nz.__all__) <= set(namespace)
    assert nz.explain.explain and nz.images.load_digit    # any submodule, as `import nnzero.x` would give


def test_dir_and_help_show_the_public_names_before_they_are_loaded():
    names = _fresh("import nnzero as nz; print(*dir(nz))")
    assert set(nz.__all__) <= set(names) and "export_onnx" in names
    shown = subprocess.run([sys.executable, "-c", "import pydoc, nnzero; print(pydoc.render_doc(nnzero, "
                            "renderer=pydoc.plaintext))"], capture_output=True, text=True, timeout=120,
                           env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert shown.returncode == 0, shown.stderr
    for name in ("class Sequential", "class Dense", "class Adam", "load(", "check_gradients("):
        assert name in shown.stdout, name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'nnzero' has no attribute 'Dens'"):
        nz.Dens
    assert not hasattr(nz, "_private_thing")


def test_the_names_type_checkers_see_are_the_names_loaded_at_run_time():
    """The `if TYPE_CHECKING:` imports (for editors and type checkers, and what
    tests/test_architecture.py reads) list exactly what __getattr__ serves."""
    static = {}
    for node in ast.walk(ast.parse(INIT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                for alias in imp.names:
                    static[alias.name] = imp.module or alias.name
    runtime = {**nz._WHERE, **{m: m for m in nz._MODULES}}
    assert static == runtime


def test_a_model_made_through_the_package_can_save_itself(tmp_path):
    # Sequential.save writes through nnzero.serialization, which the eager package always imported.
    path = tmp_path / "m.safetensors"
    assert _fresh(f"import nnzero as nz; m = nz.mlp(4, [3], 2); m.build(seed=0); m.save({str(path)!r});"
                  f"print(nz.load({str(path)!r}).n_features)") == ["4"]
    assert _fresh(f"from nnzero import Sequential, Dense, Softmax; m = Sequential([Dense(4, 2), Softmax()]);"
                  f"m.build(seed=0); m.save({str(path)!r}); print('ok')") == ["ok"]


def test_save_before_the_file_layer_is_imported_says_what_to_do(tmp_path):
    # `from nnzero.model import Sequential` leaves the lazy package's file layer unloaded: save()
    # names the fix instead of calling None; after importing it, save works.
    import subprocess
    import sys

    code = ("from nnzero.model import Sequential\nfrom nnzero.layers import Dense\n"
            "m = Sequential([Dense(2, 2)], loss='mse').build(seed=0)\n"
            "try:\n    m.save(r'%s')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
            "import nnzero.serialization\nm.save(r'%s')\nprint('saved')\n") % (tmp_path / "a.safetensors",
                                                                           tmp_path / "b.safetensors")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["ConfigError model.save needs nnzero's file layer, not imported yet: import "
                                "nnzero.serialization first, or write the file with nnzero.save(model, path)",
                                "saved"]
    assert (tmp_path / "b.safetensors").exists() and not (tmp_path / "a.safetensors").exists()
