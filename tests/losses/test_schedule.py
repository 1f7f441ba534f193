"""Loss-weight schedules against hand-worked values."""
import pytest

from mmac.losses.schedule import MODES, scheduled_weight


@pytest.mark.parametrize("iteration, expected", [(0, 4.0), (225, 3.0), (450, 2.0), (675, 1.0), (900, 0.0),
                                                  (5000, 0.0)])
def test_linear_from_zero(iteration, expected):
    assert scheduled_weight(iteration, 4.0, 0.0, begin=0, end=900) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("iteration, expected", [(0, 1.0), (99, 1.0), (100, 1.0), (150, 2.0), (200, 3.0),
                                                  (300, 3.0)])
def test_linear_rising_after_a_delay(iteration, expected):
    assert scheduled_weight(iteration, 1.0, 3.0, begin=100, end=200) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("iteration, expected", [(0, 4.0), (449, 4.0), (450, 0.5), (10_000, 0.5)])
def test_step(iteration, expected):
    # begin is unused by a step
    assert scheduled_weight(iteration, 4.0, 0.5, begin=300, end=450, mode="step") == expected


def test_constant_when_both_weights_agree():
    assert {scheduled_weight(i, 2.0, 2.0, 0, 10) for i in range(20)} == {2.0}


def test_bad_settings():
    with pytest.raises(ValueError, match="end > begin"):
        scheduled_weight(0, 1.0, 0.0, begin=10, end=10)
    with pytest.raises(ValueError, match="start_weight"):
        scheduled_weight(0, -1.0, 0.0, end=10)
    with pytest.raises(ValueError, match="end_weight"):
        scheduled_weight(0, 1.0, float("inf"), end=10)
    with pytest.raises(TypeError, match="iteration"):
        scheduled_weight(True, 1.0, 0.0, end=10)
    with pytest.raises(ValueError, match="iteration"):
        scheduled_weight(-1, 1.0, 0.0, end=10)
    with pytest.raises(TypeError, match="end"):
        scheduled_weight(0, 1.0, 0.0, end=10.0)
    with pytest.raises(ValueError) as err:
        scheduled_weight(0, 1.0, 0.0, end=10, mode="cosine")
    for mode in MODES:
        assert mode in str(err.value)
