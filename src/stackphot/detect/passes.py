"""A detection pass: one photutils star finder, tuned to one star size and threshold.

A single finder pass is tuned to one star size: DAOFIND's sharpness criterion rejects what is much broader
or much sharper than its kernel. Frames that hold both sharp faint stars and bloated bright ones (a
photographic plate, a stack with saturated stars) therefore need several passes, e.g. a small FWHM at a
low threshold and a large FWHM at a higher one (``stackphot.detect.finders`` merges them).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass

from photutils.detection import DAOStarFinder, IRAFStarFinder

from stackphot.options import check_fields, check_values

__all__ = ["FINDERS", "DetectionPass"]

FINDERS = {"dao": DAOStarFinder, "iraf": IRAFStarFinder}


@dataclass(frozen=True, kw_only=True)
class DetectionPass:
    """One run of a photutils star finder.

    Attributes
    ----------
    fwhm : float
        FWHM (px) of the finder's Gaussian kernel: the size of the stars this pass looks for.
    threshold : float
        Detection threshold in units of the background RMS. Both finders compare it with the amplitude of
        the kernel Gaussian fitted at each pixel (the kernel-convolved image). ``dao`` first scales it by
        the noise of that amplitude in units of the pixel RMS, so 5 means a 5-sigma matched-filter
        detection whatever the FWHM; ``iraf`` uses it as is, an amplitude of 5 pixel RMS.
    finder : {'dao', 'iraf'}
        photutils ``DAOStarFinder`` or ``IRAFStarFinder``.
    sharplo, sharphi, roundlo, roundhi : float, optional
        Bounds on sharpness and roundness; None keeps the finder's photutils default for that bound
        (DAO: sharpness 0.2..1.0, roundness -1..1; IRAF: sharpness 0.5..2.0, roundness 0..0.2). Hot
        pixels and cosmic rays are sharper than any star, so ``sharphi`` is what rejects them.
    min_separation : float, optional
        Minimum distance (px) between two detections of this pass; None keeps the photutils default
        ``2.5 * fwhm``.
    sigma_radius : float, optional
        Kernel truncation radius in Gaussian sigmas; None keeps the photutils default 1.5. That default
        makes a 5 x 5 zero-sum kernel for FWHM up to about 4 px, whose "background" ring lies in the
        star's own wings: it detects at roughly half the signal-to-noise of a matched filter. 2.5 (a 7 x 7
        kernel at FWHM 3.5) recovers most of it, but raises the sharpness of real stars (measured against
        a wider ring), so ``sharphi`` must then be raised above the DAO default of 1.0.
    """

    fwhm: float
    threshold: float
    finder: str = "dao"
    sharplo: float | None = None
    sharphi: float | None = None
    roundlo: float | None = None
    roundhi: float | None = None
    min_separation: float | None = None
    sigma_radius: float | None = None

    def __post_init__(self):
        if self.finder not in FINDERS:
            raise ValueError(f"unknown finder {self.finder!r}; choose one of {', '.join(FINDERS)}")
        # YAML gives ints where floats are meant: normalise (frozen, hence object.__setattr__).
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "finder" and value is not None:
                object.__setattr__(self, field.name, float(value))
        checks = {
            "fwhm must be positive": math.isfinite(self.fwhm) and self.fwhm > 0,
            "threshold must be positive": math.isfinite(self.threshold) and self.threshold > 0,
            "sharplo must be <= sharphi": None in (self.sharplo, self.sharphi) or self.sharplo <= self.sharphi,
            "roundlo must be <= roundhi": None in (self.roundlo, self.roundhi) or self.roundlo <= self.roundhi,
            "min_separation must be >= 0": self.min_separation is None or self.min_separation >= 0,
            "sigma_radius must be positive": self.sigma_radius is None or self.sigma_radius > 0,
        }
        check_values(checks, "detection pass")

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> DetectionPass:
        """Pass from a mapping such as a parsed YAML entry; ``fwhm`` and ``threshold`` are required.

        Raises
        ------
        ValueError
            Unknown keys (all of them are named), missing required keys, a bad finder or bad values.
        """
        check_fields(cls, mapping, "detection pass")
        return cls(**mapping)

    def make_finder(self, threshold, *, exclude_border: bool = True):
        """The photutils finder of this pass for an absolute ``threshold`` (scalar or 2D map, data units)."""
        cls = FINDERS[self.finder]
        defaults = inspect.signature(cls).parameters  # photutils' own defaults for the bounds left as None
        sharp_default = defaults["sharpness_range"].default
        round_default = defaults["roundness_range"].default
        sharpness_range = (
            sharp_default[0] if self.sharplo is None else self.sharplo,
            sharp_default[1] if self.sharphi is None else self.sharphi,
        )
        roundness_range = (
            round_default[0] if self.roundlo is None else self.roundlo,
            round_default[1] if self.roundhi is None else self.roundhi,
        )
        return cls(
            threshold=threshold,
            fwhm=self.fwhm,
            sigma_radius=defaults["sigma_radius"].default if self.sigma_radius is None else self.sigma_radius,
            exclude_border=exclude_border,
            min_separation=self.min_separation,
            sharpness_range=sharpness_range,
            roundness_range=roundness_range,
        )


def as_passes(passes) -> list[DetectionPass]:
    """Passes given as DetectionPass or mappings (``DetectionPass.from_mapping``), as DetectionPass."""
    return [p if isinstance(p, DetectionPass) else DetectionPass.from_mapping(p) for p in passes]
