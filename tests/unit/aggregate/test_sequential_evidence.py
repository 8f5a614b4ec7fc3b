"""The detector's sequential test: the CUSUM statistic computed afresh from one-minute buckets, its
rate-dependent bar, and its settings."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.aggregate.detector import Baseline, DetectorConfig, scan, scan_bar
from finsent.app.configs import detector_config
from finsent.settings import Settings

CFG = DetectorConfig()
minutes_st = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(lambda t: (min(t), max(t))), min_size=1, max_size=60
)


def running_cusum(cfg: DetectorConfig, counts: list[tuple[int, int]], p0: float) -> float:
    """The textbook recursion S = max(0, S + llr of the next minute), from the stretch's start."""
    p1 = min(0.99, p0 + cfg.scan_shift)
    s = 0.0
    for neg, tot in counts:
        s = max(0.0, s + neg * math.log(p1 / p0) + (tot - neg) * math.log((1 - p1) / (1 - p0)))
    return s


@settings(max_examples=200, deadline=None)
@given(minutes_st, st.floats(0.05, 0.6))
def test_the_evidence_is_the_cusum_statistic_of_the_stretch(counts, p0):
    now = 60.0 * len(counts)
    minutes = [(60 * i, neg, tot) for i, (neg, tot) in enumerate(counts) if tot]
    a = scan(CFG, minutes, Baseline(p0, 300.0), now)
    assert a.llr is not None
    assert math.isclose(a.llr, running_cusum(CFG, counts, p0), abs_tol=1e-9)
    # The stretch reported is the one that holds that evidence: its items and share.
    assert 0 <= a.volume <= sum(t for _, t in counts) and 0 <= a.window_s <= now


def test_a_run_of_negatives_builds_evidence_and_neutral_items_wear_it_down():
    base = Baseline(0.15, 300.0)
    burst = scan(CFG, [(0, 3, 3), (60, 3, 3), (120, 3, 3)], base, 180.0)
    assert burst.llr is not None and burst.llr > CFG.scan_llr and burst.volume == 9
    fading = scan(CFG, [(0, 3, 3), (60, 3, 3), (120, 3, 3), (180, 0, 9)], base, 240.0)
    assert fading.llr is not None and 0 < fading.llr < burst.llr and fading.volume == 18
    # Enough calm items after it and the evidence is gone: the statistic is back at 0.
    calm = scan(CFG, [(0, 3, 3), (60, 0, 9), (120, 0, 9)], base, 180.0)
    assert calm.llr == 0 and calm.volume == 0


def test_a_busier_topic_needs_more_evidence():
    quiet = Baseline(0.15, 50 + 20 * 6, 6 * 3600)  # 20 items an hour over six hours
    busy = Baseline(0.15, 50 + 180 * 6, 6 * 3600)  # 180 an hour
    assert scan_bar(CFG, quiet) == CFG.scan_llr
    assert math.isclose(scan_bar(CFG, busy), CFG.scan_llr + math.log(9))
    young = Baseline(0.15, 50 + 30, 600)  # 30 items in its first 10 minutes: 180 an hour
    assert math.isclose(scan_bar(CFG, young), CFG.scan_llr + math.log(9))


def test_the_settings_set_the_sequential_test_or_turn_it_off():
    on = detector_config(Settings(spike_sequential_llr=8.5, spike_long_window="30m", spike_max_alert="1d"))
    assert on.scan_window_s > 0 and on.scan_llr == 8.5
    assert on.long_window_s == 1800 and on.max_alert_s == 86400
    assert detector_config(Settings(spike_sequential_llr=0)).scan_window_s == 0
