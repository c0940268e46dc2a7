"""Readers for the user's own copies of Fashion-MNIST and IMDB, in NumPy only.

Nothing is downloaded. Each reader checks the files it expects and raises ``FileNotFoundError``
(a file is missing) or ``ValueError`` (a file is not in the expected layout), naming the files
and the layout it wants.

* Fashion-MNIST: the four standard gzipped IDX files (magic 0x00000803 for images of shape
  (n, 28, 28), 0x00000801 for labels, big-endian).
* IMDB: the Keras ``imdb.npz`` (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``; x are
  object arrays of lists of word ranks, y are 0/1). Sequences are encoded as
  ``keras.datasets.imdb.load_data(num_words=vocab_size)`` does (1 starts a review, 2 stands for a
  word outside the vocabulary, word rank w becomes w + 3) and padded or truncated at the front
  to ``maxlen`` tokens with 0, as ``keras.utils.pad_sequences`` does.
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FASHION_MNIST_FILES",
    "IMDB_FILE",
    "IMDB_KEYS",
    "Dataset",
    "encode_reviews",
    "load_fashion_mnist",
    "load_imdb",
    "read_idx",
]

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
IMAGE_SIZE = 28

IMDB_FILE = "imdb.npz"
IMDB_KEYS = ("x_train", "y_train", "x_test", "y_test")
PAD, START, OOV, INDEX_FROM = 0, 1, 2, 3

_FASHION_LAYOUT = (
    "expected the four standard gzipped IDX files "
    f"{', '.join(FASHION_MNIST_FILES.values())} (big-endian magic 0x{IMAGE_MAGIC:08x} for "
    f"images of shape (n, 28, 28), 0x{LABEL_MAGIC:08x} for labels)"
)
_IMDB_LAYOUT = (
    f"expected the Keras {IMDB_FILE} with keys {', '.join(IMDB_KEYS)} (x: object arrays of lists "
    "of word indices, y: 0/1 labels)"
)


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays: inputs ``x_*`` and integer class labels ``y_*`` (int64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array stored in the gzipped IDX file ``path``, whose magic must be ``magic``."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except gzip.BadGzipFile as err:
        raise ValueError(f"{path}: not a gzip file; {_FASHION_LAYOUT}") from err
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "a file shorter than its header"
        raise ValueError(f"{path}: magic number 0x{found} is not 0x{magic:08x}; {_FASHION_LAYOUT}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if len(raw) - header != np.prod(shape):
        raise ValueError(
            f"{path}: header says shape {shape} ({np.prod(shape)} bytes) but "
            f"{len(raw) - header} bytes follow; {_FASHION_LAYOUT}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(data_dir: Path | str) -> Dataset:
    """Fashion-MNIST from ``data_dir``: uint8 images (n, 28, 28) and int64 labels in 0..9."""
    paths = {key: Path(data_dir) / name for key, name in FASHION_MNIST_FILES.items()}
    missing = [path.name for path in paths.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST: {missing} not found in {data_dir}; {_FASHION_LAYOUT}"
        )
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], IMAGE_MAGIC)
        labels = read_idx(paths[f"{split}_labels"], LABEL_MAGIC).astype(np.int64)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{paths[f'{split}_images']}: shape {images.shape}; {_FASHION_LAYOUT}")
        if len(labels) != len(images) or labels.max(initial=0) > 9:
            raise ValueError(
                f"{paths[f'{split}_labels']}: {len(labels)} labels in 0..{labels.max(initial=0)} "
                f"for {len(images)} images; expected one label in 0..9 per image"
            )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return Dataset(**arrays, num_classes=10)


def encode_reviews(reviews: np.ndarray, maxlen: int, vocab_size: int) -> np.ndarray:
    """Word-rank sequences as an int32 (n, ``maxlen``) array of token ids below ``vocab_size``.

    Each review becomes [START, w₁+3, w₂+3, …] with ids ≥ ``vocab_size`` replaced by OOV, then
    keeps its last ``maxlen`` tokens, or is padded with PAD in front to ``maxlen``.
    """
    out = np.full((len(reviews), maxlen), PAD, np.int32)
    for row, review in enumerate(reviews):
        ids = np.concatenate([[START], np.asarray(review, np.int64) + INDEX_FROM])[-maxlen:]
        out[row, maxlen - len(ids) :] = np.where(ids < vocab_size, ids, OOV)
    return out


def load_imdb(data_dir: Path | str, maxlen: int = 200, vocab_size: int = 20_000) -> Dataset:
    """IMDB from ``data_dir/imdb.npz``: int32 token ids (n, ``maxlen``) and int64 labels 0/1."""
    path = Path(data_dir) / IMDB_FILE
    if not path.is_file():
        raise FileNotFoundError(f"IMDB: {path} not found; {_IMDB_LAYOUT}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not an .npz (zip) archive; {_IMDB_LAYOUT}")
    with np.load(path, allow_pickle=True) as f:
        missing = [key for key in IMDB_KEYS if key not in f.files]
        if missing:
            raise ValueError(f"{path}: keys {missing} missing; {_IMDB_LAYOUT}")
        arrays = {key: f[key] for key in IMDB_KEYS}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 1 or y.shape != x.shape or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{path}: x_{split} has shape {x.shape} and y_{split} shape {y.shape} with "
                f"values {np.unique(y)[:5]}; {_IMDB_LAYOUT}"
            )
    return Dataset(
        x_train=encode_reviews(arrays["x_train"], maxlen, vocab_size),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=encode_reviews(arrays["x_test"], maxlen, vocab_size),
        y_test=arrays["y_test"].astype(np.int64),
        num_classes=2,
    )
