"""Argument checks shared by the schedule modules: one-line ValueErrors."""
import math
import numbers


def check_number(name, value, *, minimum=None, minimum_inclusive=True):
    """Returns ``value`` as a float after checking it is a finite real number.

    Args:
        name: argument name used in the error message.
        value: the value to check.
        minimum: lower bound, or None for no bound. Defaults to None.
        minimum_inclusive: whether ``value == minimum`` is allowed.
            Defaults to True.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if minimum is not None:
        if value < minimum or (value == minimum and not minimum_inclusive):
            relation = ">=" if minimum_inclusive else ">"
            raise ValueError(f"`{name}` must be {relation} {minimum}, got {value!r}.")
    return value


def check_int(name, value, *, minimum=0):
    """Returns ``value`` as an int after checking it is an integer >= minimum.

    Integral floats such as ``10.0`` are accepted (YAML and flag parsers
    produce them); ``10.5`` is rejected.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if not float(value).is_integer():
        raise ValueError(f"`{name}` must be a whole number, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}.")
    return value


def check_choice(name, value, choices):
    """Returns ``value`` after checking it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")
    return value
