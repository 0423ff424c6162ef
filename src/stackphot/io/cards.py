"""Header cards: free text made into valid COMMENT/HISTORY cards, the cards that describe a stored array,
a raw frame's cards made valid, and the celestial WCS a header holds."""

from __future__ import annotations

import re
import textwrap
import warnings

from astropy.io import fits


def clean_card_text(text: str, width: int = 72) -> list[str]:
    """Split free text into strings valid for COMMENT/HISTORY cards: printable ASCII, at most ``width`` long.

    Lines break between words where they can; control and non-ASCII characters become ``?``.
    """
    printable = re.sub(r"[^\x20-\x7e]", "?", str(text))
    return textwrap.wrap(printable, width, break_on_hyphens=False) or [""]


def ascii_text(text: str) -> str:
    """Text a FITS card value can hold: accents dropped (``Ångström`` is ``Angstrom``), any other non-ASCII or
    control character ``?``."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))
    return re.sub(r"[^\x20-\x7e]", "?", plain)


def add_cards(header: fits.Header, kind: str, lines) -> None:
    """Append COMMENT or HISTORY lines to a header, each cleaned and wrapped to valid FITS cards."""
    add = header.add_history if kind == "HISTORY" else header.add_comment
    for line in lines:
        for piece in clean_card_text(line):
            add(piece)


# Cards that describe a stored array: written from the array itself, never copied from another header.
STRUCTURAL_KEYS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "PCOUNT",
                   "GCOUNT", "BZERO", "BSCALE", "BLANK", "CHECKSUM", "DATASUM", "EXTNAME")


def image_header(header: fits.Header | None) -> fits.Header:
    """A copy of a header without the cards that describe the stored array (astropy rewrites those)."""
    header = fits.Header() if header is None else header.copy()
    for key in STRUCTURAL_KEYS:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header


def valid_header(header: fits.Header) -> tuple[fits.Header, list[str]]:
    """A raw frame's header as valid FITS cards, and what was wrong with the cards left out.

    Fixable cards are fixed as astropy would on writing (an unquoted string is quoted); a card that cannot
    be (an illegal keyword, unprintable text) is left out rather than losing the frame.
    """
    kept, problems = [], []
    for card in image_header(header).cards:
        try:
            with warnings.catch_warnings():  # the problem is returned, for the caller to report with the file
                warnings.simplefilter("ignore", fits.verify.VerifyWarning)
                card.verify("silentfix")
            kept.append(card)
        except fits.VerifyError as error:
            message = " ".join(str(error).split())
            problems.append(re.sub(r"^Verification reported errors: (Unfixable error: )?| Note: .*$", "", message))
    return fits.Header(kept), problems


def celestial_wcs(header):
    """The header's celestial WCS, or None when it has none (astropy's notes on fixing cards silenced)."""
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    return wcs.celestial if wcs.has_celestial else None
