"""Text datasets from their published files (torchtext.datasets' split names): GLUE's SST-2 and Multi30k.

Both load the raw text eagerly into Python lists (SST-2's 67,349 training rows in well under a
second) and check it as they read: a file that is missing raises ``DatasetNotFoundError`` naming the
folders looked in; a file that is there but damaged raises ``RuntimeError`` naming the file and,
where there is one, the line. ``download=True`` fetches missing files from the publisher and checks
their MD5 sums (the values torchtext lists) before anything is written.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from ..utils._download import DatasetNotFoundError, download_file, download_zip_members
from ..utils.data import Dataset

__all__ = ["SST2", "Multi30k"]

# A text file that inflates past this is refused rather than read whole (the largest, train.de, is 2.1 MB).
_MAX_TEXT_BYTES = 1 << 28


def _check_split(name: str, split: str, valid: tuple[str, ...]) -> None:
    if split not in valid:
        raise ValueError(f"{name}: split must be one of {', '.join(repr(s) for s in valid)}, got {split!r}")


def _find(folders: list[Path], filenames: tuple[str, ...]) -> Path | None:
    """The first existing file among ``filenames`` in the first folder that holds one."""
    for folder in folders:
        for filename in filenames:
            candidate = folder / filename
            if candidate.is_file():
                return candidate
    return None


def _not_found(name: str, filename: str, folders: list[Path]) -> DatasetNotFoundError:
    looked = ", ".join(str(folder) for folder in folders)
    return DatasetNotFoundError(
        f"{name}: dataset file {filename} not found (looked in {looked}). "
        "Pass download=True to fetch it, or put the file in one of those folders."
    )


def _decode_utf8(name: str, path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RuntimeError(f"{name}: {path}, line {line}: corrupt: the text is not valid UTF-8 ({exc.reason})") from None


class SST2(Dataset):
    """GLUE's binary Stanford Sentiment Treebank: (sentence, label) pairs, label 0 negative, 1 positive.

    ``split`` is ``"train"`` (67,349 rows) or ``"dev"`` (872 rows), GLUE's file names (the test split
    has no labels). ``root`` holds ``train.tsv``/``dev.tsv`` directly or inside ``sst2/`` or ``SST-2/``.
    The TSV header is ``sentence<TAB>label``; the space GLUE leaves at the end of each sentence is
    stripped. ``download=True`` fetches GLUE's ``SST-2.zip`` when a split file is missing and extracts
    ``train.tsv`` and ``dev.tsv`` (MD5-checked) into ``root/sst2/``.
    """

    url = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
    # split -> (member of the zip archive, MD5 of the extracted file)
    resources = {
        "train": ("SST-2/train.tsv", "da409a0a939379ed32a470bc0f7fe99a"),
        "dev": ("SST-2/dev.tsv", "268856b487b2a31a28c0a93daaff7288"),
    }
    splits = ("train", "dev")
    classes = ["negative", "positive"]

    def __init__(self, root: str | os.PathLike, split: str = "train", download: bool = False) -> None:
        _check_split(type(self).__name__, split, self.splits)
        self.root = os.path.expanduser(os.fspath(root))
        self.split = split
        if download:
            self.download()
        path = _find(self._search_dirs(), (f"{split}.tsv",))
        if path is None:
            raise _not_found(type(self).__name__, f"{split}.tsv", self._search_dirs())
        self.sentences, self.labels = self._read_tsv(path)

    @property
    def download_folder(self) -> str:
        """Where ``download=True`` puts the files: ``root/sst2``."""
        return os.path.join(self.root, "sst2")

    def _search_dirs(self) -> list[Path]:
        return [Path(self.root), Path(self.root) / "sst2", Path(self.root) / "SST-2"]

    def download(self) -> None:
        """Fetch ``SST-2.zip`` and extract the split files that are missing (MD5-checked) into ``download_folder``."""
        missing = {
            member: md5
            for split, (member, md5) in self.resources.items()
            if _find(self._search_dirs(), (f"{split}.tsv",)) is None
        }
        if not missing:
            return
        os.makedirs(self.download_folder, exist_ok=True)
        download_zip_members([self.url], missing, Path(self.download_folder), type(self).__name__)

    def _read_tsv(self, path: Path) -> tuple[list[str], list[int]]:
        name = type(self).__name__
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RuntimeError(f"{name}: cannot read {path} ({exc})") from None
        lines = _decode_utf8(name, path, data).split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline
        header = lines[0].rstrip("\r") if lines else ""
        if header != "sentence\tlabel":
            raise RuntimeError(f"{name}: {path}, line 1: corrupt: expected the header 'sentence\\tlabel', found {header!r}")
        sentences: list[str] = []
        labels: list[int] = []
        for number, line in enumerate(lines[1:], start=2):
            fields = line.split("\t")
            if len(fields) != 2:
                raise RuntimeError(
                    f"{name}: {path}, line {number}: corrupt: expected 2 tab-separated fields "
                    f"(sentence, label), found {len(fields)}"
                )
            sentence, label = fields
            label = label.rstrip("\r")
            if label == "0":
                labels.append(0)
            elif label == "1":
                labels.append(1)
            else:
                raise RuntimeError(f"{name}: {path}, line {number}: corrupt: the label must be 0 or 1, found {label!r}")
            sentences.append(sentence.rstrip(" "))
        return sentences, labels

    def __getitem__(self, index: int) -> tuple[str, int]:
        return self.sentences[index], self.labels[index]

    def __len__(self) -> int:
        return len(self.sentences)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r}, split={self.split!r}, size={len(self)})"


class Multi30k(Dataset):
    """Multi30k English-German caption pairs (WMT16 multimodal task 1, ``multi30k/dataset``'s raw files).

    ``split`` is ``"train"`` (29,000 pairs), ``"valid"`` (1,014) or ``"test"`` (1,000, the
    test_2016_flickr set), torchtext's names; the files are ``{train,val,test_2016_flickr}.{de,en}.gz``
    (gzip, UTF-8, one sentence per line; line i of ``.de`` translates line i of ``.en``), in ``root``
    directly or inside ``multi30k/``. ``language_pair`` is ``("de", "en")`` or ``("en", "de")``:
    ``dataset[i]`` is ``(source_sentence, target_sentence)`` in that order. ``download=True``
    fetches the missing files of all three splits (MD5-checked) into ``root/multi30k/``.
    """

    base_url = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
    resources = [
        ("train.en.gz", "0065d13af80720a55ca8153d126e6627"),
        ("train.de.gz", "81ff90b99829c0cd4b1b587d394afd39"),
        ("val.en.gz", "2b69aa9253948ac9f67e94917272dd40"),
        ("val.de.gz", "6e0e229eb049e3fc99a1ef02fb2d5f91"),
        ("test_2016_flickr.en.gz", "ff2c0fcb4893a13bd73414306bc250ae"),
        ("test_2016_flickr.de.gz", "efd67d314d98489b716b145475101932"),
    ]
    split_files = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
    num_lines = {"train": 29000, "valid": 1014, "test": 1000}
    language_pairs = (("de", "en"), ("en", "de"))

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        language_pair: tuple[str, str] = ("de", "en"),
        download: bool = False,
    ) -> None:
        name = type(self).__name__
        _check_split(name, split, tuple(self.split_files))
        language_pair = tuple(language_pair)
        if language_pair not in self.language_pairs:
            raise ValueError(f"{name}: language_pair must be ('de', 'en') or ('en', 'de'), got {language_pair!r}")
        self.root = os.path.expanduser(os.fspath(root))
        self.split = split
        self.language_pair = language_pair
        if download:
            self.download()
        stem = self.split_files[split]
        paths = {language: self._require(f"{stem}.{language}.gz") for language in language_pair}
        lines = {language: self._read_lines(path) for language, path in paths.items()}
        source_language, target_language = language_pair
        counts = {language: len(text) for language, text in lines.items()}
        if counts[source_language] != counts[target_language]:
            raise RuntimeError(
                f"{name}: {paths[source_language]} has {counts[source_language]} lines but "
                f"{paths[target_language]} has {counts[target_language]}: line i of one must translate line i "
                "of the other, so the files are corrupt or not a pair"
            )
        expected = self.num_lines[split]
        if counts[source_language] != expected:
            raise RuntimeError(
                f"{name}: {paths[source_language]} and {paths[target_language]} are corrupt: expected "
                f"{expected} lines for the {split!r} split, found {counts[source_language]}"
            )
        self.source: list[str] = lines[source_language]
        self.target: list[str] = lines[target_language]

    @property
    def download_folder(self) -> str:
        """Where ``download=True`` puts the files: ``root/multi30k``."""
        return os.path.join(self.root, "multi30k")

    def _search_dirs(self) -> list[Path]:
        return [Path(self.root), Path(self.root) / "multi30k"]

    def _require(self, filename: str) -> Path:
        path = _find(self._search_dirs(), (filename,))
        if path is None:
            raise _not_found(type(self).__name__, filename, self._search_dirs())
        return path

    def download(self) -> None:
        """Fetch the files that are missing (MD5-checked) into ``download_folder``."""
        missing = [(f, md5) for f, md5 in self.resources if _find(self._search_dirs(), (f,)) is None]
        if not missing:
            return
        os.makedirs(self.download_folder, exist_ok=True)
        for filename, md5 in missing:
            download_file([self.base_url], filename, md5, Path(self.download_folder), type(self).__name__)

    def _read_lines(self, path: Path) -> list[str]:
        name = type(self).__name__
        try:
            with gzip.open(path, "rb") as f:
                data = f.read(_MAX_TEXT_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise RuntimeError(
                f"{name}: {path}: cannot read the file: it is not valid gzip data or it is truncated ({exc})"
            ) from None
        if len(data) > _MAX_TEXT_BYTES:
            raise RuntimeError(f"{name}: {path}: corrupt: it inflates to more than {_MAX_TEXT_BYTES} bytes")
        lines = _decode_utf8(name, path, data).split("\n")
        if lines[-1] == "":
            lines.pop()  # the final newline (or an empty file)
        for number, line in enumerate(lines, start=1):
            if line.endswith("\r"):
                line = lines[number - 1] = line[:-1]
            if not line.strip():
                raise RuntimeError(f"{name}: {path}, line {number}: corrupt: empty line (every line is one sentence)")
        return lines

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.source[index], self.target[index]

    def __len__(self) -> int:
        return len(self.source)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, split={self.split!r}, "
            f"language_pair={self.language_pair!r}, size={len(self)})"
        )
