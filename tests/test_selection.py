import numpy as np
import pandas as pd
import pytest

from stackphot.selection import FrameSelectionError, check_selection, judge_frames

QUALITY = pd.DataFrame({
    "frame": ["a", "b", "c", "d", "e"],
    "dy": [0.0, 1.2, np.nan, 3.0, -250.0],
    "dx": [0.0, -0.5, np.nan, 2.0, 10.0],
    "correlation": [1.0, 0.91, 0.0, 0.05, 0.8],
    "overlap": [1.0, 0.98, 0.0, 0.9, 0.2],
})


def test_frames_are_judged_with_a_reason():
    judged = judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5)
    assert list(judged.accepted) == [True, True, False, False, False]
    assert judged.reason[0] == judged.reason[1] == ""
    assert "nothing above the registration threshold" in judged.reason[2]
    assert "correlation with the reference 0.050 < 0.3" in judged.reason[3]
    assert "overlap with the reference 20.0% < 50%" in judged.reason[4]
    # The reference is never rejected, whatever its figures.
    assert judge_frames(QUALITY.assign(correlation=0.0), reference="a", min_correlation=0.3,
                        min_overlap=0.5).accepted[0]


def test_the_run_stops_on_fail_or_with_too_few_frames():
    judged = judge_frames(QUALITY, reference="a", min_correlation=0.3, min_overlap=0.5)
    check_selection(judged, on_bad_frame="reject", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match=r"dataset night: 3 bad frame\(s\) \(c: no shift measured"):
        check_selection(judged, on_bad_frame="fail", min_frames=2, dataset="night")
    with pytest.raises(FrameSelectionError, match="only 2 good frame"):
        check_selection(judged, on_bad_frame="reject", min_frames=3, dataset="night")
