"""Where the files that ship with the package (rules/, reports/, the demo cassette) are found."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    """Path to a bundled data file.

    An installed wheel carries rules/, reports/ and cassettes/ under `cmkaudit/_data/`; a source
    checkout (or an editable install) has them at the top of the repository.
    """
    installed = _PACKAGE_DIR.joinpath("_data", *parts)
    if installed.exists():
        return installed
    return _PACKAGE_DIR.parent.parent.joinpath(*parts)
