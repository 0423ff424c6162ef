"""Provenance: what made a product, written into its FITS header as cards, COMMENT and HISTORY lines.

Every stage's image function returns a ``Product``: its arrays together with what the header must say about
how they were made, so that a stage's provenance is written in one place, next to the science it describes,
and a script only writes the product (``stackphot.io.write_product``) over its input's header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np


@dataclass
class Product:
    """An image a stage made, with the header cards, HISTORY and COMMENT lines that say how.

    ``cards`` are set in their order over the input's header (a value, or ``(value, comment)``), after the
    input's cards named in ``removed`` (which no longer describe the product) are taken out.
    """

    data: np.ndarray
    extensions: dict[str, np.ndarray] = field(default_factory=dict)
    cards: dict[str, object] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    removed: tuple[str, ...] = ()


PACKAGES = ("stackphot", "numpy", "scipy", "astropy", "photutils", "scikit-image", "pandas")


def software_versions(packages=PACKAGES) -> dict[str, str]:
    """Installed version of each package (``'not installed'`` when missing)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def versions_line() -> str:
    return "software: " + ", ".join(f"{name} {version}" for name, version in software_versions().items())


def processing_date() -> str:
    """UTC date-time for a header: from SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def sha256(path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
