"""examples/seed_table.py: its readers on tiny files, its summary, and one short run of each
experiment in each framework (through the command line, as a user runs it)."""

import gzip
import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPT = EXAMPLES / "seed_table.py"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IMDB_KEYS = ("x_train", "y_train", "x_test", "y_test")
ARMS = {
    "fashion-mnist": ["CosmoReg", "L2 (λ=0.001)"],
    "imdb": ["CosmoReg, no LayerNorm", "LayerNorm"],
}


def import_example(name: str):
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLES))
        return importlib.import_module(name)


@pytest.fixture(scope="module")
def readers():
    return import_example("seedtable.data")


def write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(folder: Path, n_train: int = 64, n_test: int = 32) -> dict:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", 0x00000803, images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", 0x00000801, labels)
        arrays[split] = images, labels
    return arrays


def reviews(*sequences: list[int]) -> np.ndarray:
    out = np.empty(len(sequences), dtype=object)
    out[:] = [list(s) for s in sequences]
    return out


def write_imdb(folder: Path, n_train: int = 64, n_test: int = 32) -> None:
    rng = np.random.default_rng(1)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = reviews(*(rng.integers(1, 25_000, rng.integers(1, 250)) for _ in range(n)))
        return x, rng.integers(0, 2, n)

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    np.savez(folder / "imdb.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


# --- Readers ------------------------------------------------------------------------------


def test_fashion_mnist_reader_returns_what_was_written(readers, tmp_path):
    written = write_fashion_mnist(tmp_path)
    data = readers.load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(data.x_train, written["train"][0])
    np.testing.assert_array_equal(data.y_train, written["train"][1])
    np.testing.assert_array_equal(data.x_test, written["t10k"][0])
    np.testing.assert_array_equal(data.y_test, written["t10k"][1])
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    assert data.num_classes == 10


def test_imdb_reader_encodes_as_keras(readers, tmp_path):
    long_review = list(range(1, 301))  # 300 words: only the last 200 tokens are kept
    np.savez(
        tmp_path / "imdb.npz",
        x_train=reviews([4, 10, 19_999], long_review),
        y_train=np.array([0, 1]),
        x_test=reviews([]),
        y_test=np.array([1]),
    )
    data = readers.load_imdb(tmp_path, maxlen=200, vocab_size=20_000)
    # [start=1, w+3 ...], 20002 is out of the vocabulary (oov=2), padded with 0 in front.
    np.testing.assert_array_equal(data.x_train[0, -4:], [1, 7, 13, 2])
    np.testing.assert_array_equal(data.x_train[0, :-4], 0)
    np.testing.assert_array_equal(data.x_train[1], np.arange(101, 301) + 3)
    np.testing.assert_array_equal(data.x_test[0], [0] * 199 + [1])
    np.testing.assert_array_equal(data.y_train, [0, 1])
    assert data.x_train.shape == (2, 200) and data.num_classes == 2

    capped = readers.load_imdb(tmp_path, maxlen=5, vocab_size=10)
    np.testing.assert_array_equal(capped.x_train[0], [0, 1, 7, 2, 2])


def test_missing_files_name_what_is_expected(readers, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        readers.load_fashion_mnist(tmp_path)
    assert all(name in str(err.value) for name in FASHION_FILES)
    with pytest.raises(FileNotFoundError) as err:
        readers.load_imdb(tmp_path)
    assert "imdb.npz" in str(err.value)
    assert all(key in str(err.value) for key in IMDB_KEYS)


def test_bad_magic_number_is_rejected(readers, tmp_path):
    write_fashion_mnist(tmp_path)
    images = np.zeros((4, 28, 28), np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", 0x00000801, images)  # a label magic
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*0x00000803"):
        readers.load_fashion_mnist(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train-images-idx3-ubyte.gz", b"not gzip at all", "not a gzip file"),
        ("train-labels-idx1-ubyte.gz", gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09"), "bytes"),
    ],
)
def test_malformed_idx_files_are_rejected(readers, tmp_path, name, content, message):
    write_fashion_mnist(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        readers.load_fashion_mnist(tmp_path)
    assert name in str(err.value)


def test_label_count_must_match_images(readers, tmp_path):
    write_fashion_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", 0x00000801, np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz"):
        readers.load_fashion_mnist(tmp_path)


def test_npz_without_the_keys_is_rejected(readers, tmp_path):
    np.savez(tmp_path / "imdb.npz", x_train=reviews([1]), y_train=np.array([0]))
    with pytest.raises(ValueError, match=r"imdb\.npz") as err:
        readers.load_imdb(tmp_path)
    assert "x_test" in str(err.value) and "y_test" in str(err.value)


def test_file_that_is_not_an_npz_is_rejected(readers, tmp_path):
    (tmp_path / "imdb.npz").write_bytes(b"plain text")
    with pytest.raises(ValueError, match=r"imdb\.npz.*x_train"):
        readers.load_imdb(tmp_path)


# --- Script -------------------------------------------------------------------------------


def test_summary_is_mean_and_sample_std_over_seeds():
    seed_table = import_example("seed_table")
    experiments = import_example("seedtable.experiments")
    arm = experiments.EXPERIMENTS["imdb"].arms[0]
    results = [experiments.Result(0.8, 0.5, 100), experiments.Result(0.9, 0.3, 100)]
    row = seed_table.summary(arm, results)
    assert row["accuracy_mean"] == pytest.approx(0.85)
    assert row["accuracy_std"] == pytest.approx(math.sqrt(0.005))
    assert row["loss_std"] == pytest.approx(math.sqrt(0.02))
    assert seed_table.summary(arm, results[:1])["accuracy_std"] is None


def test_help_lists_the_published_single_run_numbers():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for number in ("89.01%", "0.3060", "88.77%", "0.3405", "86.43%", "0.3617", "85.76%", "0.4110"):
        assert number in out
    assert "single run" in out


CASES = [(d, f) for d in ("fashion-mnist", "imdb") for f in ("torch", "jax")]


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    """One short epoch of each experiment in each framework, run as a user runs the script:
    (completed process, JSON report path) per (dataset, framework)."""
    # Unoptimized XLA code compiles several times faster; these models are tiny.
    env = {**os.environ, "XLA_FLAGS": "--xla_backend_optimization_level=0"}
    runs = {}
    for dataset, framework in CASES:
        folder = tmp_path_factory.mktemp(f"{dataset}-{framework}")
        (write_fashion_mnist if dataset == "fashion-mnist" else write_imdb)(folder)
        out = folder / "table.json"
        args = ["--dataset", dataset, "--data-dir", str(folder), "--framework", framework]
        args += ["--epochs", "1", "--batch-size", "16", "--limit", "48", "--out", str(out)]
        args += ["--width", "0.25", "--depth", "0.5"]  # tiny models
        run = subprocess.run(
            [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env
        )
        runs[dataset, framework] = run, out
    return runs


@pytest.mark.parametrize(("dataset", "framework"), CASES)
def test_one_short_epoch_gives_both_arms(short_runs, dataset, framework):
    run, out = short_runs[dataset, framework]
    assert run.returncode == 0, run.stderr

    report = json.loads(out.read_text())
    assert [row["arm"] for row in report["rows"]] == ARMS[dataset]
    assert report["framework"] == framework and report["train_examples"] == 48
    for row in report["rows"]:
        assert row["seeds"] == 1 and row["accuracy_std"] is None
        assert 0.0 <= row["accuracy_mean"] <= 1.0
        assert math.isfinite(row["loss_mean"]) and row["loss_mean"] > 0
        assert row["parameters"] > 0
        assert (
            f"| {row['arm']} | {row['parameters']:,} | 1 | {100 * row['accuracy_mean']:.2f} ± — |"
            in run.stdout
        )


def test_both_frameworks_build_the_same_models(short_runs):
    for dataset in ("fashion-mnist", "imdb"):
        sizes = {}
        for framework in ("torch", "jax"):
            _, out = short_runs[dataset, framework]
            sizes[framework] = [row["parameters"] for row in json.loads(out.read_text())["rows"]]
        assert sizes["torch"] == sizes["jax"], dataset
