"""The first hour of a new user: awkward names and settings get one line naming the file or key and the fix."""

import pytest
from astropy.io import fits

from stackphot.datasets import DatasetError, resolve_datasets
from stackphot.ingest import ingest_product
from stackphot.io import FrameError, read_raw_frame, write_product
from stackphot.simulate import simulate_frame_set, write_frame_set

SETTINGS = {"calibrate": {}, "photometry": {"radii": [4.0, 6.0], "annulus": [12.0, 18.0],
                                            "sky": {"radius_arcsec": 4.8, "annulus_arcsec": [7.2, 12.0]}},
            "register": {"crop": None}}


@pytest.fixture
def folder(tmp_path):
    night = tmp_path / "my night é"
    write_frame_set(simulate_frame_set(shape=(32, 40), n_frames=2, n_cluster_stars=5, n_field_stars=2,
                                       cluster_scale_radius=5.0, cluster_max_radius=10.0), night)
    return night


def test_a_folder_whose_name_holds_spaces_gets_a_results_folder_a_path_can_hold(folder):
    assert list(resolve_datasets({"data": str(folder), **SETTINGS})) == ["my_night_e"]


def test_a_file_name_with_braces_is_refused_naming_it(folder):
    (folder / "frame_002.fits").rename(folder / "M13 {2}.fits")
    with pytest.raises(FrameError, match=r"M13 \{2\}\.fits: its path holds '\{' or '\}'.*rename it"):
        resolve_datasets({"data": str(folder), **SETTINGS})


def test_a_file_name_the_header_cannot_hold_is_written_without_its_accents(folder, tmp_path):
    path = folder / "Ångström 2.fits"
    (folder / "frame_002.fits").rename(path)
    product = ingest_product(read_raw_frame(path), raw_sha256="0" * 64).product
    write_product(tmp_path / "ingested.fits", product)
    assert fits.getheader(tmp_path / "ingested.fits")["ORIGFILE"] == "Angstrom 2.fits"


@pytest.mark.parametrize("change, message", [
    ({"photometry": {"annulus": [18.0, 12.0]}}, r"photometry: annulus \[18, 12\] is inside out"),
    ({"photometry": {"radii": [4.0, 14.0]}}, r"photometry: annulus starts at 12, inside the aperture of 14"),
    ({"photometry": {"sky": {"radius_arcsec": 4.8, "annulus_arcsec": [9.0, 6.0]}}},
     r"annulus_arcsec \[9, 6\] is inside out"),
    ({"register": {"crop": [0, 20, 0, 50]}}, r"register: crop \[0, 20, 0, 50\] is not a region of frames of 32 x 40"),
    ({"register": {"crop": [20, 10, 0, 30]}}, r"register: crop \[20, 10, 0, 30\] is not a region"),
])
def test_settings_that_cannot_work_stop_the_run_naming_the_key(folder, change, message):
    settings = {section: {**values, **change.get(section, {})} for section, values in SETTINGS.items()}
    with pytest.raises(DatasetError, match=message):
        resolve_datasets({"data": str(folder), **settings})
