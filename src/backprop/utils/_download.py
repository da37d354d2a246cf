"""Dataset downloads shared by the vision and text datasets: fetch from mirrors, check MD5 sums, write atomically.

Nothing is written unless every checked file matches its MD5 sum, and each file appears under its
final name only when it is complete (written to ``name.part`` first, then renamed), so an
interrupted or corrupt download never leaves a file that the loaders would take for the dataset.
When no mirror serves a file, the error says so in words (offline?) and lists what was tried.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["DatasetNotFoundError", "download_file", "download_zip_members"]

# An archive member larger than this is refused rather than inflated (a "zip bomb" guard).
MAX_MEMBER_BYTES = 1 << 30


class DatasetNotFoundError(FileNotFoundError, RuntimeError):
    """A dataset file is missing: both a ``FileNotFoundError`` and (as torchvision raises) a ``RuntimeError``."""


def md5_hex(payload: bytes) -> str:
    """The MD5 hex digest of ``payload`` (a checksum, not a security measure)."""
    return hashlib.md5(payload, usedforsecurity=False).hexdigest()


def write_atomic(target: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``target`` through ``target.part`` and a rename, so ``target`` is never partial."""
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(payload)
    os.replace(tmp, target)
    return target


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "backprop"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def _offline_error(name: str, what: str, failures: list[str], hint: str) -> RuntimeError:
    return RuntimeError(
        f"{name}: could not download {what} (are you offline?). Tried:\n  "
        + "\n  ".join(failures)
        + f"\n{hint} and construct the dataset again."
    )


def download_file(mirrors: list[str], filename: str, md5: str, folder: Path, name: str) -> Path:
    """Fetch ``filename`` from the first mirror (``mirror + filename``) that serves it with the right MD5
    into ``folder``, written atomically; ``name`` (the dataset) heads the error raised when none does."""
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            payload = _fetch(url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        digest = md5_hex(payload)
        if digest != md5:
            failures.append(f"{url}: MD5 {digest} does not match the expected {md5}")
            continue
        return write_atomic(Path(folder) / filename, payload)
    raise _offline_error(name, filename, failures, f"Download the file by hand into {folder}")


def _extract_checked(archive: bytes, members: dict[str, str]) -> dict[str, bytes]:
    """The bytes of each member of the zip ``archive``, checked against its MD5; ValueError says what is wrong."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            contents = {}
            for member, md5 in members.items():
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    raise ValueError(f"the archive has no member {member}") from None
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ValueError(f"member {member} declares {info.file_size} bytes, more than is plausible")
                with zf.open(info) as f:
                    payload = f.read(MAX_MEMBER_BYTES + 1)
                if len(payload) > MAX_MEMBER_BYTES:
                    raise ValueError(f"member {member} inflates to more than {MAX_MEMBER_BYTES} bytes")
                digest = md5_hex(payload)
                if digest != md5:
                    raise ValueError(f"member {member}: MD5 {digest} does not match the expected {md5}")
                contents[member] = payload
            return contents
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ValueError(f"not a readable zip archive ({exc})") from None


def download_zip_members(urls: list[str], members: dict[str, str], folder: Path, name: str) -> list[Path]:
    """Fetch a zip archive from the first of ``urls`` that serves one whose ``members`` (archive path -> MD5)
    are all present with the right MD5 sums, and write each member into ``folder`` under its base name.

    The archive stays in memory (it is not kept); the members are written atomically and only after
    all of them have been checked. Returns the written paths in the order of ``members``.
    """
    folder = Path(folder)
    failures = []
    for url in urls:
        try:
            archive = _fetch(url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        try:
            contents = _extract_checked(archive, members)
        except ValueError as exc:
            failures.append(f"{url}: {exc}")
            continue
        return [write_atomic(folder / Path(member).name, payload) for member, payload in contents.items()]
    archive_name = urls[0].rsplit("/", 1)[-1]
    hint = f"Download {archive_name} by hand, extract {', '.join(members)} into {folder}"
    raise _offline_error(name, archive_name, failures, hint)
