"""Provenance: what made a product, written into its FITS header as COMMENT and HISTORY cards."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from importlib import metadata

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
