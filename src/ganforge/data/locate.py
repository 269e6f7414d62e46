"""Find a named dataset's files locally, or download them; one-line errors when neither works."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ganforge.data import download as dl
from ganforge.data.paths import candidate_dirs, download_dir
from ganforge.errors import GanforgeError


def locate(name: str, data_dir: str | os.PathLike | None, has_files: Callable[[Path], bool],
           resources: list[dl.Resource], mirrors: list[str], how_to: str,
           allow_download: bool = True) -> Path:
    """Return the first candidate folder for which ``has_files`` is true, else download there.

    ``how_to`` names a way for a user to provide the files by hand (shown when offline).
    """
    looked = []
    for d in candidate_dirs(name, data_dir):
        if d in looked:
            continue
        looked.append(d)
        if d.is_dir() and has_files(d):
            return d
    where = ", ".join(str(p) for p in looked)
    if data_dir is not None and not Path(data_dir).expanduser().exists():
        raise GanforgeError(f"--data-dir {data_dir} does not exist; point it at a folder holding the {name} files")
    if not allow_download or dl.offline():
        raise GanforgeError(f"{name} not found (looked in {where}); downloads are off: {how_to}")
    dest = download_dir(name)
    try:
        for res in resources:
            if not (dest / res.filename).exists():
                dl.fetch(res, dest, mirrors)
    except GanforgeError as err:
        raise GanforgeError(f"{name} not found locally (looked in {where}) and the download failed ({err}); "
                            f"{how_to}") from None
    return dest
