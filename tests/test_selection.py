import numpy as np
import pandas as pd
import pytest

from stackphot.register.select import FrameSelectionError, check_selection, duplicate_files, judge_frames

QUALITY = pd.DataFrame({
    "frame": ["a", "b", "c", "d", "e"],
    "dy": [0.0, 1.2, np.nan, 3.0, -250.0],
    "dx": [0.0, -0.5, np.nan, 2.0, 10.0],
    "correlation": [1.0, 0.91, 0.0, 0.05, 0.8],
    "overlap": [1.0, 0.98, 0.0, 0.9, 0.2],
    "method": ["xcorr", "xcorr", "none", "xcorr", "xcorr"],
    "n_matched": [50, 40, 0, 3, 30],
})


def test_frames_are_judged_with_a_reason():
    judged = judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5)
    assert list(judged.accepted) == [True, True, False, False, False]
    assert judged.reason[0] == judged.reason[1] == ""
    assert "not registered: nothing above the registration threshold and 0 stars matched < 8" in judged.reason[2]
    assert "correlation with the reference 0.050 < 0.3 and 3 stars matched < 8: not the same field" in judged.reason[3]
    assert "overlap with the reference 20.0% < 50%" in judged.reason[4]
    # The reference is never rejected, whatever its figures.
    assert judge_frames(QUALITY.assign(correlation=0.0), reference="a", min_correlation=0.3,
                        min_overlap=0.5).accepted[0]


def test_a_frame_the_stars_register_or_confirm_passes_whatever_its_correlation():
    # A meridian flip correlates badly but its stars fit; thin clouds lower the correlation of a frame whose
    # stars still confirm the shift.
    quality = QUALITY.iloc[[0, 3, 3]].assign(method=["xcorr", "stars", "xcorr"], n_matched=[50, 40, 12])
    judged = judge_frames(quality.reset_index(drop=True), reference="a", min_correlation=0.3, min_overlap=0.5)
    assert judged.accepted.all()
    few = judge_frames(quality.reset_index(drop=True), reference="a", min_correlation=0.3, min_overlap=0.5,
                       min_matched_stars=20)
    assert list(few.accepted) == [True, True, False]


def test_star_count_and_fwhm_limits_apply_only_when_set():
    quality = QUALITY.iloc[[0, 1]].assign(n_stars=[120, 4], fwhm=[3.4, 3.6])
    assert judge_frames(quality, reference="a", min_correlation=0.3, min_overlap=0.5).accepted.all()
    few = judge_frames(quality, reference="a", min_correlation=0.3, min_overlap=0.5, min_stars=10)
    assert list(few.accepted) == [True, False] and few.reason[1] == "4 stars < 10 (clouds, dome, focus?)"
    wide = judge_frames(quality.assign(fwhm=[3.4, np.nan]), reference="a", min_correlation=0.3, min_overlap=0.5,
                        max_fwhm=5.0)
    assert list(wide.accepted) == [True, False] and "star FWHM nan px > 5 px" in wide.reason[1]
    assert judge_frames(quality, reference="a", min_correlation=0.3, min_overlap=0.5, max_fwhm=3.5).reason[1] == (
        "star FWHM 3.60 px > 3.5 px (seeing, focus, trailing?)")


def test_the_run_stops_on_fail_or_with_too_few_frames():
    judged = judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5)
    check_selection(judged, on_bad_frame="reject", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match=r"dataset night: 3 bad frame\(s\) \(c: not registered"):
        check_selection(judged, on_bad_frame="fail", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match="only 2 good frame"):
        check_selection(judged, on_bad_frame="reject", min_frames=3, dataset="night")


def test_the_selection_file_reads_back_with_bools_and_empty_reasons(tmp_path):
    from stackphot.io import write_table
    from stackphot.register.select import read_selection

    judged = judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5)
    write_table(tmp_path / "frame_selection.csv", judged)
    back = read_selection(tmp_path / "frame_selection.csv")
    assert back.accepted.dtype == bool and list(back.accepted) == list(judged.accepted)
    assert list(back.reason) == list(judged.reason) and back.reason[0] == ""
    assert np.isnan(back.dy[2]) and back.dy.dtype == float


FRAMES = pd.DataFrame({
    "frame": ["a", "b", "c", "d"],
    "file": ["a.fits", "b.fits", "copy of b.fits", "d.fits"],
    "sha256": ["1" * 64, "2" * 64, "2" * 64, "2" * 64],
})


def test_a_file_under_two_names_is_stacked_once_and_both_are_named():
    duplicates = duplicate_files(FRAMES, reference="a")
    assert {frame: duplicate.kept for frame, duplicate in duplicates.items()} == {"c": "b", "d": "b"}
    assert duplicates["c"].reason == (f"the same file as frame b (copy of b.fits and b.fits have SHA-256 {'2' * 64}): "
                                      "stacked once")
    # The reference is the copy kept, wherever it stands among its copies.
    assert {frame: duplicate.kept for frame, duplicate in duplicate_files(FRAMES, reference="c").items()} == {
        "b": "c", "d": "c"}
    quality = QUALITY.iloc[[0, 1, 1, 1]].reset_index(drop=True).assign(frame=FRAMES.frame)
    judged = judge_frames(quality, reference="a", min_correlation=0.3, min_overlap=0.5, duplicates=duplicates)
    assert list(judged.accepted) == [True, True, False, False]
    assert list(judged.duplicate_of) == ["", "", "b", "b"] and judged.reason[2] == duplicates["c"].reason
    # A copy is no bad frame: on_bad_frame: fail does not stop for it, but it does not count as a good frame.
    check_selection(judged, on_bad_frame="fail", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match="only 2 good frame"):
        check_selection(judged, on_bad_frame="fail", min_frames=3, dataset="night")


def test_frames_without_a_checksum_are_no_copies():
    assert duplicate_files(FRAMES.assign(sha256=[None, None, "2" * 64, None]), reference="a") == {}
