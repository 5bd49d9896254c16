"""Datasets: a strict IDX reader/writer, MNIST (bundled) and its relatives, and user data files.

>>> from nnzero import datasets
>>> (X_train, y_train), (X_test, y_test) = datasets.load_mnist(normalize=True)
>>> X_train.shape, X_train.dtype, y_train.dtype
((60000, 784), dtype('float32'), dtype('uint8'))

Nothing here needs the network except downloading Fashion-MNIST/KMNIST the first time; every
bad file gives a DataError (IDXFormatError for IDX, DownloadError for downloads) naming the file
and the problem.
"""

from .csvfile import load_csv, read_header
from .download import cache_dir, download
from .files import dataset_checksum, load_file, load_labels, load_npy, load_npz
from .idx import read_idx, write_idx
from .mnist import (DATASETS, DatasetSpec, get_spec, load_dataset, load_fashion_mnist,
                    load_kmnist, load_mnist)

__all__ = [
    "DATASETS", "DatasetSpec", "cache_dir", "dataset_checksum", "download", "get_spec",
    "load_csv", "load_dataset", "load_fashion_mnist", "load_file", "load_kmnist", "load_mnist",
    "load_npy", "load_npz", "read_header", "read_idx", "write_idx",
]
