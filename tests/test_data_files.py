"""User data files (CSV, .npz, .npy) and the dataset checksum."""

import hashlib
import tracemalloc
import zipfile

import numpy as np
import pytest

from nnzero.datasets import dataset_checksum, load_csv, load_file, load_npz
from nnzero.errors import ConfigError, DataError


def write(tmp_path, text, name="d.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


# --- CSV -------------------------------------------------------------------------------------

def test_kaggle_train_layout(tmp_path):
    path = write(tmp_path, "label,pixel0,pixel1,pixel2\n1,0,255,3\n0,7,8,9\n")
    X, y = load_csv(path)
    assert X.dtype == np.float32 and X.tolist() == [[0, 255, 3], [7, 8, 9]]
    assert y.dtype == np.int64 and y.tolist() == [1, 0]
    X2, y2 = load_file(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)


def test_kaggle_test_layout_has_no_labels(tmp_path):
    X, y = load_csv(write(tmp_path, "pixel0,pixel1\n1,2\n3,4\n"))
    assert y is None and X.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("text, kwargs, X, y", [
    ("a,target,b\n1,2,3\n4,5,6\n", {"label_column": "target"}, [[1, 3], [4, 6]], [2, 5]),
    ("1,2,3\n4,5,6\n", {"label_column": 0}, [[2, 3], [5, 6]], [1, 4]),
    ("1,2,3\n4,5,6\n", {"label_column": -1}, [[1, 2], [4, 5]], [3, 6]),
    ("1,2,3\n4,5,6\n", {"label_column": None}, [[1, 2, 3], [4, 5, 6]], None),
    ("\ufefflabel,p\n3,1.5\n", {}, [[1.5]], [3]),  # byte-order mark before the header
    ("label,p\n\n3,1\n\n4,2\n\n", {}, [[1], [2]], [3, 4]),  # blank lines skipped
    ("label;p\n3;1\n", {"delimiter": ";"}, [[1]], [3]),
    ('"label","p"\n"3","1"\n', {}, [[1]], [3]),  # quoted cells
    ("10,20\n30,40\n", {"label_column": None, "header": True}, [[30, 40]], None),
])
def test_csv_layouts(tmp_path, text, kwargs, X, y):
    got_X, got_y = load_csv(write(tmp_path, text), **kwargs)
    assert got_X.tolist() == X
    assert (got_y is None and y is None) or got_y.tolist() == y



@pytest.mark.parametrize("text, fast", [
    ("label,p0,p1\n1,0,255\n0,-7,8\n", True),
    ("label,p0,p1\r\n1,0,255\r\n0,7,8", True),               # CRLF, no final newline
    ("\ufefflabel,p0\n3,1\n", True),                           # byte-order mark
    ("7,1,2\n8,3,4\n", True),                                  # no header
    ("label,p\n1,9007199254740991\n", True),                   # 2**53 - 1: exact
    ("label,p\n1,9007199254740993\n", False),                  # 2**53 + 1: to np.loadtxt
    ("label,p\n1,99999999999999999999999\n", False),           # beyond int64
    ("label,p\n1,0.5\n", False),
    ("label,p\n1,1e3\n", False),
    ('label,p\n"1","2"\n', False),
    ("label,p\n\n3,1\n", False),                               # a blank line
    ("label,p\n3,-\n", False),
    ("label,p\n3,1-2\n", False),
    ("label,p\n3,--2\n", False),
    ("label,p0,p1\n1,,2\n", False),                            # an empty cell
    ("label,p0,p1\n1,2\n3,4,5\n", False),                      # ragged
    ("label,p\n-3,-1\n", True),
])
def test_integer_csv_fast_path_matches_loadtxt(tmp_path, monkeypatch, text, fast):
    from nnzero.datasets import csvfile

    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))

    def outcome():
        try:
            return [(a.dtype, a.tobytes()) for a in load_csv(path, label_column=0)]
        except DataError as exc:
            return str(exc)

    calls = []
    real = csvfile._integer_table
    monkeypatch.setattr(csvfile, "_integer_table", lambda *a: calls.append(real(*a)) or calls[-1])
    got = outcome()
    assert (calls[0] is not None) == fast
    monkeypatch.setattr(csvfile, "_integer_table", lambda *a: None)
    assert got == outcome()                     # same arrays, or the same error

def test_csv_dtype(tmp_path):
    X, _ = load_csv(write(tmp_path, "label,p\n1,0.1\n"), dtype=np.float64)
    assert X.dtype == np.float64 and X[0, 0] == 0.1
    with pytest.raises(ConfigError, match="float"):
        load_csv(write(tmp_path, "label,p\n1,2\n"), dtype=np.int32)


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("\n\n  \n", "empty"),
    ("label,p0,p1\n", "no data rows"),
    ("label,p0,p1\n1,2,3\n4,x,6\n", r"line 3, column 2 \(p0\): 'x' is not a number"),
    ("label,p0,p1\n1,2,3\n4,5\n", r"line 3: 2 fields, expected 3"),
    ("label,p0,p1\n1,2,3\n4,5,6,7\n", r"line 3: 4 fields, expected 3"),
    ("label,p0,p1\n1,2,3\n\n4,,6\n", r"line 4, column 2 \(p0\): empty cell"),
    ("label,p0,p1\n1,2,nan\n", r"line 2, column 3 \(p1\): nan is not a finite number"),
    ("label,p0,p1\n1,2,3\n1,inf,3\n", r"line 3, column 2 \(p0\): inf is not a finite"),
    ("label,p0,p1\n1.5,2,3\n", r"line 2, column 1 \(label\): label 1.5 is not an integer"),
    ("label,p0,p1\n1e12,2,3\n", r"line 2, column 1 \(label\): label 1e12"),
    ("label\n1\n", "only the label column"),
    ("a,b\n1,2\n", None),  # no 'label' column: fine, y is None (checked below)
])
def test_csv_errors_name_file_line_and_problem(tmp_path, text, match):
    path = write(tmp_path, text, name="train.csv")
    if match is None:
        assert load_csv(path)[1] is None
        return
    with pytest.raises(DataError, match=match) as err:
        load_csv(path)
    assert "train.csv" in str(err.value)


def test_csv_label_column_errors(tmp_path):
    with pytest.raises(DataError, match="no column named 'target'.*a, b"):
        load_csv(write(tmp_path, "a,b\n1,2\n"), label_column="target")
    with pytest.raises(DataError, match="no header row.*--label-column 0.*label_column=0"):
        load_csv(write(tmp_path, "1,2\n3,4\n"))
    with pytest.raises(DataError, match="out of range"):
        load_csv(write(tmp_path, "1,2\n3,4\n"), label_column=2)
    with pytest.raises(ConfigError, match="label_column"):
        load_csv(write(tmp_path, "1,2\n3,4\n"), label_column=1.0)


def test_csv_binary_and_missing_files(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"label,p\n1,\xff\xfe\n")
    with pytest.raises(DataError, match="bin.csv: not a UTF-8"):
        load_csv(path)
    path.write_bytes(b"label,p\n1,\x00\n")
    with pytest.raises(DataError, match="bin.csv"):
        load_csv(path)
    with pytest.raises(DataError, match="missing.csv"):
        load_csv(tmp_path / "missing.csv")


# --- .npz / .npy -----------------------------------------------------------------------------

def save_npz(tmp_path, name="d.npz", compressed=True, **arrays):
    path = tmp_path / name
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


@pytest.mark.parametrize("keys", [("X", "y"), ("x", "y"), ("x_train", "y_train"),
                                  ("images", "labels")])
@pytest.mark.parametrize("compressed", [True, False])
def test_npz_keys(tmp_path, keys, compressed):
    X = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    y = np.array([0, 1, 2], dtype=np.int32)
    path = save_npz(tmp_path, compressed=compressed, **{keys[0]: X, keys[1]: y}, other=np.ones(1))
    got_X, got_y = load_npz(path)
    assert got_X.shape == (3, 4) and got_X.dtype == np.float32  # images flattened
    np.testing.assert_array_equal(got_X, X.reshape(3, 4))
    assert got_y.dtype == np.int32 and got_y.tolist() == [0, 1, 2]
    assert load_file(path)[0].shape == (3, 4)


def test_npz_keras_layout_gives_training_split_and_single_array_is_X(tmp_path):
    path = save_npz(tmp_path, x_train=np.zeros((4, 2)), y_train=np.arange(4),
                    x_test=np.ones((2, 2)), y_test=np.arange(2))
    X, y = load_npz(path)
    assert X.shape == (4, 2) and y.tolist() == [0, 1, 2, 3]
    X, y = load_npz(save_npz(tmp_path, name="one.npz", whatever=np.ones((2, 3))))
    assert X.shape == (2, 3) and y is None


@pytest.mark.parametrize("arrays, match", [
    ({"X": np.ones((3, 2)), "y": np.arange(2)}, "2 labels.*3 samples"),
    ({"X": np.ones((3, 2)), "y": np.ones((3, 2))}, "y must be 1-D"),
    ({"X": np.ones(3), "y": np.arange(3)}, "X must be 2-D"),
    ({"X": np.ones((0, 2))}, "empty"),
    ({"X": np.array([[1.0, np.nan]])}, r"non-finite value \(nan\) at index \(0, 1\)"),
    ({"X": np.array([["a", "b"]])}, "numeric"),
    ({"X": np.ones((2, 2), dtype=complex)}, "numeric"),
    ({"a": np.ones(2), "b": np.ones(2)}, "no array named X.*found a, b"),
])
def test_npz_bad_contents(tmp_path, arrays, match):
    with pytest.raises(DataError, match=match):
        load_npz(save_npz(tmp_path, **arrays))


def test_npz_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        load_npz(path)


def test_every_truncation_of_an_npz_is_a_data_error(tmp_path):
    data = save_npz(tmp_path, X=np.arange(6.0).reshape(2, 3), y=np.arange(2)).read_bytes()
    bad = tmp_path / "bad.npz"
    for n in range(0, len(data), 7):
        bad.write_bytes(data[:n])
        with pytest.raises(DataError, match="bad.npz"):
            load_npz(bad)


def lying_npy(shape, payload=b"\0" * 16):
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


@pytest.mark.parametrize("shape", [(10**6, 10**6), (100, 3)])
@pytest.mark.parametrize("kind", ["npz-deflated", "npz-stored", "npy"])
def test_lying_headers_refused_before_allocation(tmp_path, shape, kind):
    blob = lying_npy(shape)
    if kind == "npy":
        path = tmp_path / "x.npy"
        path.write_bytes(blob)
    else:
        path = tmp_path / "x.npz"
        method = zipfile.ZIP_DEFLATED if kind == "npz-deflated" else zipfile.ZIP_STORED
        with zipfile.ZipFile(path, "w", method) as zf:
            zf.writestr("X.npy", blob)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="(truncated|corrupted)"):
            load_file(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 2**20


def test_npy_loads_as_X_only(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.uint8).reshape(2, 3))
    X, y = load_file(tmp_path / "a.npy")
    assert X.dtype == np.uint8 and X.tolist() == [[0, 1, 2], [3, 4, 5]] and y is None
    np.save(tmp_path / "o.npy", np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickle"):
        load_file(tmp_path / "o.npy")
    (tmp_path / "z.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError, match="z.npy"):
        load_file(tmp_path / "z.npy")


def test_load_file_dispatch_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "x.csv")
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(DataError, match=r"unsupported.*'\.parquet'.*\.csv, \.npz or \.npy"):
        load_file(tmp_path / "x.parquet")
    np.save(tmp_path / "a.npy", np.ones((2, 2)))
    with pytest.raises(DataError, match="only apply to .csv"):
        load_file(tmp_path / "a.npy", label_column=0)


# --- dataset_checksum ------------------------------------------------------------------------

def test_dataset_checksum_recipe():
    X = np.array([[1, 2]], dtype=np.uint8)
    h = hashlib.sha256(b"nnzero-dataset-v1;")
    h.update(b"X:|u1:(1, 2);" + bytes([1, 2]) + b"y:none;")
    assert dataset_checksum(X, None) == h.hexdigest()


def test_dataset_checksum_sensitivity():
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.array([0, 1])
    base = dataset_checksum(X, y)
    assert len(base) == 64 and base == dataset_checksum(X.copy(), y.copy())
    assert base == dataset_checksum(X.astype(">f4"), y.astype(">i8"))  # byte order is irrelevant
    assert base == dataset_checksum(np.asfortranarray(X), y)
    changed = X.copy()
    changed[1, 2] = 5.5
    others = {dataset_checksum(changed, y), dataset_checksum(X.reshape(3, 2), y),
              dataset_checksum(X.astype(np.float64), y), dataset_checksum(X, None),
              dataset_checksum(X, y[::-1]), dataset_checksum(X, y.astype(np.int32))}
    assert base not in others and len(others) == 6
    with pytest.raises(DataError, match="object"):
        dataset_checksum(np.array([None, 1]), None)


def test_csv_from_text_round_trips_through_checksum(tmp_path):
    # The same numbers from CSV and from .npz give the same checksum: it is about values.
    X, y = load_csv(write(tmp_path, "label,p0,p1\n1,2,3\n0,4,5\n"))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert dataset_checksum(*load_npz(tmp_path / "d.npz")) == dataset_checksum(X, y)
