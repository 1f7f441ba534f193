"""mmac._validate: TypeError for wrong types, ValueError for wrong values, messages that name what is allowed."""
import math

import numpy as np
import pytest

from mmac._validate import check_choice, check_int, check_real, check_type, is_integer, is_real


def test_choice_returns_the_value():
    assert check_choice("sum", ("mean", "sum"), "reduction") == "sum"
    assert check_choice(3, (2, 3), "dims") == 3


def test_unknown_choice_lists_the_allowed_values():
    with pytest.raises(ValueError, match=r"^unknown reduction 'max'; allowed: 'mean', 'sum', 'none'$"):
        check_choice("max", ("mean", "sum", "none"), "reduction")


def test_bool_is_not_a_numeric_choice():
    # True == 1 in Python, so a plain `in` check would accept it
    with pytest.raises(ValueError, match="unknown dims True"):
        check_choice(True, (1, 2), "dims")
    assert check_choice(False, (True, False), "flag") is False


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (2, 2.0), (np.float32(0.25), 0.25), (np.int64(3), 3.0),
                                             (np.float16(1.5), 1.5), (np.uint8(7), 7.0)])
def test_real_accepts_python_and_numpy_numbers(value, expected):
    out = check_real(value, "w")
    assert type(out) is float and out == expected


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "1", None, [1.0], 1 + 0j])
def test_real_rejects_bools_and_non_numbers_with_type_error(value):
    with pytest.raises(TypeError, match=r"^w must be a real number \(not a bool\), got "):
        check_real(value, "w")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_real_rejects_non_finite_with_value_error(value):
    with pytest.raises(ValueError, match="w must be finite"):
        check_real(value, "w")


def test_real_bounds():
    assert check_real(0, "w", minimum=0) == 0.0
    assert check_real(1, "p", minimum=0, maximum=1) == 1.0
    with pytest.raises(ValueError, match=r"^w must be >= 0, got -0.5$"):
        check_real(-0.5, "w", minimum=0)
    with pytest.raises(ValueError, match=r"^w must be > 0, got 0.0$"):
        check_real(0, "w", minimum=0, exclusive_minimum=True)
    with pytest.raises(ValueError, match=r"^p must be <= 1, got 1.5$"):
        check_real(1.5, "p", minimum=0, maximum=1)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint16(3)])
def test_int_accepts_python_and_numpy_integers(value):
    out = check_int(value, "n", minimum=1)
    assert type(out) is int and out == 3


@pytest.mark.parametrize("value", [True, np.bool_(False), 2.0, np.float64(2.0), "2", None])
def test_int_rejects_bools_floats_and_strings_with_type_error(value):
    with pytest.raises(TypeError, match=r"^n must be an integer \(not a bool\), got "):
        check_int(value, "n")


def test_int_bounds():
    with pytest.raises(ValueError, match=r"^n must be >= 2, got 1$"):
        check_int(1, "n", minimum=2)
    with pytest.raises(ValueError, match=r"^n must be <= 8, got 9$"):
        check_int(9, "n", maximum=8)
    assert check_int(-4, "n") == -4


def test_type_names_what_was_expected():
    assert check_type({}, dict, "cfg") == {}
    with pytest.raises(TypeError, match=r"^cfg must be a dict or list, got 'IN' \(str\)$"):
        check_type("IN", (dict, list), "cfg")
    with pytest.raises(TypeError, match=r"^cfg must be a dict like dict\(type='IN'\), got 3 \(int\)$"):
        check_type(3, dict, "cfg", expected="a dict like dict(type='IN')")


def test_predicates():
    assert is_real(np.float32(1)) and is_real(1) and not is_real(True) and not is_real(np.bool_(True))
    assert is_integer(np.int8(1)) and not is_integer(1.0) and not is_integer(True)
