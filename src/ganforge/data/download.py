"""Verified downloads: size and MD5 checked, written to a temp file and renamed.

A failed, interrupted or corrupt transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ganforge.errors import GanforgeError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    filename: str           # name on disk, also the last part of each URL
    md5: str                # checksum of the file as served
    size: int | None        # bytes as served; None = not checked


def offline() -> bool:
    return os.environ.get("GANFORGE_OFFLINE", "").lower() in ("1", "true", "yes")


def download(url: str, dest: Path, md5: str | None = None, size: int | None = None,
             timeout: float = 30.0, quiet: bool = False) -> Path:
    """Fetch ``url`` to ``dest``; raise GanforgeError (leaving no file) on any failure."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    digest = hashlib.md5()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or size
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=quiet or None, leave=False) as bar:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        if size is not None and got != size:
            raise GanforgeError(f"download of {url} was incomplete ({got} of {size} bytes); run the command again")
        if md5 is not None and digest.hexdigest() != md5:
            raise GanforgeError(f"download of {url} failed its checksum (md5 {digest.hexdigest()}, expected {md5}); "
                                "run again or fetch the file by hand")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        # IncompleteRead (a server that closes mid-transfer) is an HTTPException, not an OSError
        reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
        raise GanforgeError(f"could not download {url}: {reason}") from err
    finally:
        tmp.unlink(missing_ok=True)


def fetch(resource: Resource, dest_dir: Path, mirrors: list[str], quiet: bool = False) -> Path:
    """Try each mirror (a URL prefix) in turn; return the verified local path."""
    errors = []
    for base in mirrors:
        try:
            return download(base.rstrip("/") + "/" + resource.filename, dest_dir / resource.filename,
                            md5=resource.md5, size=resource.size, quiet=quiet)
        except GanforgeError as err:
            errors.append(str(err))
    raise GanforgeError("; ".join(errors))
