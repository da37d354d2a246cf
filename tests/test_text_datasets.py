"""backprop.text.datasets: SST2 and Multi30k on the shared files (sizes, first rows, label counts,
language-pair order), and on small synthetic files in ``tmp_path``: the folder layouts, a clear error
for each kind of missing or corrupt file, and downloads (MD5-checked, atomic, offline error) with
``urllib.request.urlopen`` monkeypatched.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

import backprop.datasets
from backprop.datasets import SST2, DatasetNotFoundError, Multi30k
from backprop.utils._download import download_zip_members
from backprop.utils.data import DataLoader, Dataset
from conftest import require_data

SST2_TRAIN_FIRST = ("hide new secretions from the parental units", 0)
SST2_DEV_FIRST = ("it 's a charming and often affecting journey .", 1)
MULTI30K_TRAIN_FIRST_EN = "Two young, White males are outside near many bushes."
MULTI30K_TRAIN_FIRST_DE = "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."


# ---------------------------------------------------------------------------- shared data
@pytest.fixture(scope="module")
def sst2_root():
    require_data("sst2/dev.tsv")
    return require_data("sst2/train.tsv").parent.parent  # the data folder: SST2 finds sst2/ inside it


@pytest.fixture(scope="module")
def multi30k_root():
    for name, _ in Multi30k.resources:
        require_data(f"multi30k/{name}")
    return require_data("multi30k/train.en.gz").parent


def test_exported_from_backprop_datasets():
    assert backprop.datasets.SST2 is SST2 and backprop.datasets.Multi30k is Multi30k
    assert {"SST2", "Multi30k"} <= set(backprop.datasets.__all__)
    assert issubclass(SST2, Dataset) and issubclass(Multi30k, Dataset)
    assert issubclass(DatasetNotFoundError, FileNotFoundError) and issubclass(DatasetNotFoundError, RuntimeError)


def test_sst2_real_splits(sst2_root):
    train = SST2(sst2_root)
    dev = SST2(sst2_root / "sst2", split="dev")
    assert (len(train), len(dev)) == (67349, 872)
    assert train[0] == SST2_TRAIN_FIRST and dev[0] == SST2_DEV_FIRST
    assert collections.Counter(train.labels) == {0: 29780, 1: 37569}
    assert collections.Counter(dev.labels) == {0: 428, 1: 444}
    assert train.classes == ["negative", "positive"] and train.split == "train" and dev.split == "dev"
    assert not any(s.endswith(" ") for s in train.sentences) and all(train.sentences)
    sentences, labels = next(iter(DataLoader(dev, batch_size=4, collate_fn=lambda b: tuple(zip(*b)))))
    assert sentences[0] == SST2_DEV_FIRST[0] and labels == tuple(dev.labels[:4])


def test_multi30k_real_splits_and_language_pair(multi30k_root):
    sizes = {split: len(Multi30k(multi30k_root, split=split)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 29000, "valid": 1014, "test": 1000}
    de_en = Multi30k(multi30k_root.parent)  # found inside multi30k/
    assert de_en.language_pair == ("de", "en")
    assert de_en[0] == (MULTI30K_TRAIN_FIRST_DE, MULTI30K_TRAIN_FIRST_EN)
    en_de = Multi30k(multi30k_root, language_pair=("en", "de"))
    assert en_de[0] == (MULTI30K_TRAIN_FIRST_EN, MULTI30K_TRAIN_FIRST_DE)
    assert en_de.source == de_en.target and en_de.target == de_en.source
    test = Multi30k(multi30k_root, split="test", language_pair=["en", "de"])
    assert test.language_pair == ("en", "de") and test[-1] == (test.source[-1], test.target[-1])
    assert all(test.source) and all(test.target)


# ---------------------------------------------------------------------------- synthetic SST-2
SST2_ROWS = [("a fine film ", 1), ("dull and long ", 0), ("über-clever , ça va ", 1)]


def sst2_text(rows=SST2_ROWS, header: str = "sentence\tlabel") -> bytes:
    return ("\n".join([header] + [f"{s}\t{label}" for s, label in rows]) + "\n").encode("utf-8")


@pytest.mark.parametrize("subfolder", ["", "sst2", "SST-2"])
def test_sst2_layouts(tmp_path, subfolder):
    folder = tmp_path / subfolder
    folder.mkdir(exist_ok=True)
    (folder / "dev.tsv").write_bytes(sst2_text())
    ds = SST2(tmp_path, split="dev")
    assert len(ds) == 3 and ds.sentences == ["a fine film", "dull and long", "über-clever , ça va"]
    assert ds.labels == [1, 0, 1] and ds[2] == ("über-clever , ça va", 1) and ds.root == str(tmp_path)


def test_sst2_bad_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="split must be one of 'train', 'dev', got 'validation'"):
        SST2(tmp_path, split="validation")
    with pytest.raises(DatasetNotFoundError, match="train.tsv not found") as info:
        SST2(tmp_path)
    message = str(info.value)
    for folder in (tmp_path, tmp_path / "sst2", tmp_path / "SST-2"):
        assert str(folder) in message
    assert "download=True" in message


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (sst2_text(header="text\tlabel"), 1, "expected the header"),
        (b"", 1, "expected the header"),
        (sst2_text() + b"no tab here\n", 5, "expected 2 tab-separated fields .* found 1"),
        (sst2_text() + b"a\tb\t1\n", 5, "found 3"),
        (sst2_text() + b"\n\n", 5, "found 1"),
        (sst2_text([("ok ", 1), ("bad label ", 2)]), 3, "label must be 0 or 1, found '2'"),
        (sst2_text([("ok ", 1), ("no label ", "")]), 3, "label must be 0 or 1, found ''"),
        (sst2_text() + b"caf\xe9 latin-1\t1\n", 5, "not valid UTF-8"),
    ],
)
def test_sst2_corrupt_files_name_path_and_line(tmp_path, content, line, message):
    (tmp_path / "train.tsv").write_bytes(content)
    with pytest.raises(RuntimeError, match=message) as info:
        SST2(tmp_path)
    assert f"{tmp_path / 'train.tsv'}, line {line}:" in str(info.value)


def test_sst2_crlf_line_endings_are_read(tmp_path):
    (tmp_path / "train.tsv").write_bytes(sst2_text().replace(b"\n", b"\r\n"))
    assert SST2(tmp_path).labels == [1, 0, 1]


# ---------------------------------------------------------------------------- synthetic Multi30k
PAIRS = {
    "train": [("Ein Hund rennt.", "A dog runs."), ("Zwei Männer.", "Two men."), ("Ein Kind spielt.", "A child plays.")],
    "valid": [("Eine Katze.", "A cat."), ("Ein Ball.", "A ball.")],
    "test": [("Ein Auto.", "A car.")],
}


class TinyMulti30k(Multi30k):
    num_lines = {split: len(pairs) for split, pairs in PAIRS.items()}


def multi30k_payloads() -> dict[str, bytes]:
    payloads = {}
    for split, pairs in PAIRS.items():
        stem = Multi30k.split_files[split]
        for index, language in enumerate(("de", "en")):
            text = "".join(pair[index] + "\n" for pair in pairs)
            payloads[f"{stem}.{language}.gz"] = gzip.compress(text.encode("utf-8"))
    return payloads


def write_multi30k(folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in multi30k_payloads().items():
        (folder / name).write_bytes(payload)


@pytest.mark.parametrize("subfolder", ["", "multi30k"])
def test_multi30k_layouts_and_pairs(tmp_path, subfolder):
    write_multi30k(tmp_path / subfolder)
    for split, pairs in PAIRS.items():
        ds = TinyMulti30k(tmp_path, split=split)
        assert list(ds) == pairs and ds.split == split
        swapped = TinyMulti30k(tmp_path, split=split, language_pair=("en", "de"))
        assert [(t, s) for s, t in swapped] == pairs


def test_multi30k_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be one of 'train', 'valid', 'test', got 'val'"):
        Multi30k(tmp_path, split="val")
    with pytest.raises(ValueError, match=r"language_pair must be .* got \('de', 'fr'\)"):
        Multi30k(tmp_path, language_pair=("de", "fr"))


def test_multi30k_missing_file(tmp_path):
    write_multi30k(tmp_path)
    (tmp_path / "val.en.gz").unlink()
    TinyMulti30k(tmp_path, split="train")  # the other splits still load
    with pytest.raises(DatasetNotFoundError, match="val.en.gz not found") as info:
        TinyMulti30k(tmp_path, split="valid")
    assert str(tmp_path) in str(info.value) and str(tmp_path / "multi30k") in str(info.value)
    assert "download=True" in str(info.value)


def replace(tmp_path, name: str, payload: bytes) -> str:
    write_multi30k(tmp_path)
    (tmp_path / name).write_bytes(payload)
    return str(tmp_path / name)


def test_multi30k_not_gzip_and_truncated_gzip(tmp_path):
    path = replace(tmp_path, "train.de.gz", b"Ein Hund rennt.\n")
    with pytest.raises(RuntimeError, match="not valid gzip data") as info:
        TinyMulti30k(tmp_path)
    assert path in str(info.value)
    path = replace(tmp_path, "train.en.gz", multi30k_payloads()["train.en.gz"][:-12])
    (tmp_path / "train.de.gz").write_bytes(multi30k_payloads()["train.de.gz"])
    with pytest.raises(RuntimeError, match="truncated") as info:
        TinyMulti30k(tmp_path)
    assert path in str(info.value)


def test_multi30k_not_utf8_names_the_line(tmp_path):
    path = replace(tmp_path, "val.de.gz", gzip.compress(b"Eine Katze.\nEin Ball \xfc.\n"))
    with pytest.raises(RuntimeError, match="not valid UTF-8") as info:
        TinyMulti30k(tmp_path, split="valid")
    assert f"{path}, line 2:" in str(info.value)


def test_multi30k_empty_line_is_corrupt(tmp_path):
    path = replace(tmp_path, "train.en.gz", gzip.compress(b"A dog runs.\n\nA child plays.\n"))
    with pytest.raises(RuntimeError, match="empty line") as info:
        TinyMulti30k(tmp_path)
    assert f"{path}, line 2:" in str(info.value)


def test_multi30k_line_count_mismatch_between_languages(tmp_path):
    en = replace(tmp_path, "train.en.gz", gzip.compress(b"A dog runs.\nTwo men.\n"))
    de = str(tmp_path / "train.de.gz")
    with pytest.raises(RuntimeError, match="has 3 lines but .* has 2") as info:
        TinyMulti30k(tmp_path)
    assert de in str(info.value) and en in str(info.value)


def test_multi30k_unexpected_line_count(tmp_path):
    write_multi30k(tmp_path)
    with pytest.raises(RuntimeError, match="expected 29000 lines for the 'train' split, found 3") as info:
        Multi30k(tmp_path)  # the real counts, which the tiny files do not have
    assert str(tmp_path / "train.de.gz") in str(info.value) and str(tmp_path / "train.en.gz") in str(info.value)


# ---------------------------------------------------------------------------- downloads
class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def offline(request, timeout=None):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def sst2_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in files.items():
            zf.writestr(name, payload)
    return buffer.getvalue()


def tiny_sst2_class(train: bytes, dev: bytes):
    class TinySST2(SST2):
        resources = {
            "train": ("SST-2/train.tsv", hashlib.md5(train).hexdigest()),
            "dev": ("SST-2/dev.tsv", hashlib.md5(dev).hexdigest()),
        }

    return TinySST2


def test_sst2_download_extracts_checks_md5_and_skips_when_present(tmp_path, monkeypatch):
    train, dev = sst2_text(), sst2_text(SST2_ROWS[:2])
    archive = sst2_zip({"SST-2/train.tsv": train, "SST-2/dev.tsv": dev, "SST-2/test.tsv": b"index\tsentence\n"})
    requested = []

    def fake_urlopen(request, timeout=None):
        requested.append(request.full_url)
        return FakeResponse(archive)

    renames = []

    def recording_replace(source, target):
        assert not os.path.exists(target) and Path(source).read_bytes() in (train, dev)
        renames.append((Path(source).name, Path(target).name))
        real_replace(source, target)

    real_replace = os.replace
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(os, "replace", recording_replace)
    cls = tiny_sst2_class(train, dev)
    ds = cls(tmp_path, split="dev", download=True)
    assert requested == ["https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"]
    assert ds.labels == [1, 0] and ds.sentences[0] == "a fine film"
    assert sorted(p.name for p in (tmp_path / "sst2").iterdir()) == ["dev.tsv", "train.tsv"]  # no .part left
    assert sorted(renames) == [("dev.tsv.part", "dev.tsv"), ("train.tsv.part", "train.tsv")]  # written atomically
    assert (tmp_path / "sst2" / "train.tsv").read_bytes() == train
    requested.clear()
    assert len(cls(tmp_path, split="train", download=True)) == 3
    assert requested == []  # everything is already there


@pytest.mark.parametrize("damage", ["md5", "missing member", "not a zip"])
def test_sst2_download_rejects_a_bad_archive_and_writes_nothing(tmp_path, monkeypatch, damage):
    train, dev = sst2_text(), sst2_text(SST2_ROWS[:2])
    if damage == "md5":
        archive = sst2_zip({"SST-2/train.tsv": train, "SST-2/dev.tsv": dev + b"x\t1\n"})
    elif damage == "missing member":
        archive = sst2_zip({"SST-2/train.tsv": train})
    else:
        archive = b"<html>not found</html>"
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout=None: FakeResponse(archive))
    expected = {"md5": "member SST-2/dev.tsv: MD5", "missing member": "no member SST-2/dev.tsv"}
    with pytest.raises(RuntimeError, match=expected.get(damage, "not a readable zip archive")):
        tiny_sst2_class(train, dev)(tmp_path, download=True)
    assert list((tmp_path / "sst2").iterdir()) == []  # train.tsv was fine but is not written either


def test_sst2_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="SST2: could not download SST-2.zip") as info:
        SST2(tmp_path, download=True)
    message = str(info.value)
    assert "offline" in message and "Temporary failure" in message and str(tmp_path / "sst2") in message


def test_download_zip_members_falls_back_to_the_next_url(tmp_path, monkeypatch):
    payload = b"sentence\tlabel\n"
    archive = sst2_zip({"d/a.tsv": payload})

    def fake_urlopen(request, timeout=None):
        if "mirror-a" in request.full_url:
            raise urllib.error.URLError("down")
        return FakeResponse(archive)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    urls = ["http://mirror-a.invalid/x.zip", "http://mirror-b.invalid/x.zip"]
    written = download_zip_members(urls, {"d/a.tsv": hashlib.md5(payload).hexdigest()}, tmp_path, "Test")
    assert written == [tmp_path / "a.tsv"] and written[0].read_bytes() == payload


def test_multi30k_download_fetches_checks_md5_and_skips_when_present(tmp_path, monkeypatch):
    payloads = multi30k_payloads()
    requested = []

    def fake_urlopen(request, timeout=None):
        requested.append(request.full_url)
        return FakeResponse(payloads[request.full_url.rsplit("/", 1)[1]])

    class TinyMirrorMulti30k(TinyMulti30k):
        resources = [(name, hashlib.md5(payload).hexdigest()) for name, payload in payloads.items()]

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    ds = TinyMirrorMulti30k(tmp_path, split="valid", download=True)
    assert list(ds) == PAIRS["valid"]
    assert sorted(requested) == sorted(Multi30k.base_url + name for name in payloads)
    assert sorted(p.name for p in (tmp_path / "multi30k").iterdir()) == sorted(payloads)  # no .part left
    requested.clear()
    assert list(TinyMirrorMulti30k(tmp_path, split="test", download=True)) == PAIRS["test"]
    assert requested == []


def test_multi30k_download_rejects_bad_md5(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout=None: FakeResponse(b"garbage"))
    with pytest.raises(RuntimeError, match="MD5 .* does not match the expected 0065d13af80720a55ca8153d126e6627"):
        Multi30k(tmp_path, download=True)
    assert list((tmp_path / "multi30k").iterdir()) == []


def test_multi30k_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="Multi30k: could not download train.en.gz") as info:
        Multi30k(tmp_path, download=True)
    message = str(info.value)
    assert "offline" in message and "raw.githubusercontent.com/multi30k/dataset" in message
    assert str(tmp_path / "multi30k") in message
