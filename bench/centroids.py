"""2D Gaussian centroids: stackphot.detect.gaussian_centroids against photutils' centroid_2dg, CPU seconds.

    python bench/centroids.py [N_STARS]

N_STARS (default 2000) Gaussian stars (sigma 1.5 px, 500 to 40000 ADU) at random places in a 1024 x 1024
frame with noise of 10 ADU, each box started 0.3 px from the truth (as a finder's positions are), box 5 px
(the workflow's default).
"""

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from photutils.centroids import centroid_2dg, centroid_sources

from stackphot.detect import gaussian_centroids

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stars import integrated_gaussian  # noqa: E402  (the tests' star drawing, shared)

SIGMA, NOISE, SIZE = 1.5, 10.0, 1024


def star_field(n_stars: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame and the stars' true x, y (pixel-centred Gaussians, drawn into a 15 px box each)."""
    x, y = rng.uniform(8, SIZE - 8, n_stars), rng.uniform(8, SIZE - 8, n_stars)
    flux = np.exp(rng.uniform(np.log(500), np.log(4e4), n_stars))
    image = rng.normal(0.0, NOISE, (SIZE, SIZE))
    for xx, yy, ff in zip(x, y, flux):
        x0, y0 = int(xx) - 7, int(yy) - 7
        star = np.outer(integrated_gaussian(15, yy - y0, SIGMA), integrated_gaussian(15, xx - x0, SIGMA))
        image[y0:y0 + 15, x0:x0 + 15] += ff * star
    return image, x, y


def main(n_stars: int = 2000) -> None:
    rng = np.random.default_rng(2)
    image, x, y = star_field(n_stars, rng)
    angle = rng.uniform(0, 2 * np.pi, n_stars)
    start_x, start_y = x + 0.3 * np.cos(angle), y + 0.3 * np.sin(angle)
    results, seconds = {}, {}
    for name, run in (("photutils", lambda: centroid_sources(image, start_x, start_y, box_size=5,
                                                             centroid_func=centroid_2dg)),
                      ("stackphot", lambda: gaussian_centroids(image, start_x, start_y, box_size=5))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.process_time()
            results[name] = np.column_stack(run())
            seconds[name] = time.process_time() - start
    difference = np.hypot(*(results["stackphot"] - results["photutils"]).T)
    kept = np.hypot(results["photutils"][:, 0] - start_x, results["photutils"][:, 1] - start_y) < 1
    print(f"{n_stars} stars, box 5 px, CPU s: photutils centroid_2dg {seconds['photutils']:.2f}, "
          f"stackphot gaussian_centroids {seconds['stackphot']:.3f}, ratio "
          f"{seconds['photutils'] / seconds['stackphot']:.0f}")
    print(f"difference between the two, for the {kept.sum()} centroids within 1 px of their start: median "
          f"{np.median(difference[kept]):.1e} px, max {np.max(difference[kept]):.1e} px")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
