"""Analytic write amplification of a page-mapped FTL under uniform random writes.

Notation (see ``docs/flash.md`` for the derivations and sources):

* ``T`` physical pages, ``U`` logical pages. Every function here takes the
  utilisation ``alpha = U / T``; vendor over-provisioning is
  ``op = (T - U) / U = 1/alpha - 1`` and the spare factor
  ``Sf = (T - U) / T = 1 - alpha``. Desnoyers writes his formulas in the
  reciprocal, ``a = T / U = 1 / (1 - Sf)``.
* ``B`` pages per erase block; ``x`` the fraction of valid pages in a cleaned
  block; write amplification ``A = 1 / (1 - x)`` (each cleaned block yields
  ``B (1 - x)`` pages for host data and costs ``B x`` copies).

FIFO (= LRU for a log-structured FTL): a page survives one trip round the log
with probability ``exp(-(1 - x) / alpha)``, so ``x = exp(-(1 - x) / alpha)``
and ``x = -alpha * W0(-(1/alpha) * exp(-1/alpha))``. In Desnoyers' variable
this is ``A = a / (a + W0(-a e^-a))`` (SYSTOR 2012, Eq. 4).

Greedy, two models:

* :func:`desnoyers_greedy_waf`, Desnoyers (SYSTOR 2012, Eq. 12):
  ``A = A_lru(k a) / k`` with ``k = 1 + 1/(2B)``;
* :func:`greedy_waf`, our many-blocks (mean-field) derivation for a finite
  block size: each closed block is a pure death process (``j`` valid pages die
  at rate ``j / U`` per host write) and greedy cleans at the lowest occupied
  level, which gives ``(B - v) / (alpha B) = H_B - H~(v)`` for the mean victim
  occupancy ``v`` (``H~`` the harmonic numbers interpolated linearly) and
  ``A = B / (B - v)``. With ``H_n ~ ln(n + 1/2) + gamma`` this equation
  becomes Eq. 12 exactly; the two differ by at most 0.12 % for ``B >= 64``
  and about 1 % for ``B = 8``.

As ``B -> inf`` both tend to the FIFO value: for uniform traffic greedy beats
FIFO only through the finite block size.
"""

from __future__ import annotations

import math
from typing import SupportsFloat

from ..errors import ConfigError

_INV_E = math.exp(-1.0)


def lambert_w0(x: float) -> float:
    """Principal branch ``W0`` of the Lambert W function (``w * exp(w) = x``, ``w >= -1``).

    Halley iterations from a branch-point series (near ``-1/e``), ``log1p`` or
    an asymptotic start; accurate to a few ulps for ``x >= -1/e``.
    """
    x = _real(x, "lambert_w0", "x")
    if math.isnan(x) or x < -_INV_E - 1e-15:
        raise ConfigError(
            f"lambert_w0: x must be >= -1/e = {-_INV_E!r} (W0 is real only there), not {x!r}"
        )
    if math.isinf(x):
        return math.inf
    if x == 0.0:
        return 0.0
    if x < -0.3:
        p = math.sqrt(max(2.0 * (math.e * x + 1.0), 0.0))
        w = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
        if p < 1e-7:
            return w  # the series is exact to rounding this close to the branch point
    elif x < 3.0:
        w = math.log1p(x) * (1.0 - 0.25 * math.log1p(x)) if x > 0 else x * (1.0 - x)
    else:
        lx = math.log(x)
        w = lx - math.log(lx)
    for _ in range(64):
        ew = math.exp(w)
        f = w * ew - x
        wp1 = w + 1.0
        denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        if denom == 0.0:
            break
        step = f / denom
        w -= step
        if abs(step) <= 4e-16 * (1.0 + abs(w)):
            break
    return w


def _real(value: object, where: str, name: str) -> float:
    """``value`` as a float; ConfigError for a non-number (bool included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | SupportsFloat):
        raise ConfigError(
            f"{where}: {name} must be a real number, not {type(value).__name__} {value!r}"
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{where}: {name} must be a real number, not {value!r} ({exc})") from None


def _check_alpha(alpha: float) -> None:
    alpha = _real(alpha, "write-amplification model", "alpha")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"utilisation alpha = logical/physical must be in (0, 1), not {alpha!r}")


def alpha_from_op(over_provisioning: float) -> float:
    """``alpha = 1 / (1 + op)`` for vendor over-provisioning ``op = (T - U) / U``."""
    over_provisioning = _real(over_provisioning, "alpha_from_op", "over_provisioning")
    if not over_provisioning > 0.0:
        raise ConfigError(f"over_provisioning must be > 0, not {over_provisioning!r}")
    return 1.0 / (1.0 + over_provisioning)


def fifo_valid_fraction(alpha: float) -> float:
    """Valid fraction ``x`` of a block cleaned by FIFO/LRU: ``-alpha W0(-e^{-1/alpha}/alpha)``."""
    _check_alpha(alpha)
    return -alpha * lambert_w0(-math.exp(-1.0 / alpha) / alpha)


def fifo_waf(alpha: float) -> float:
    """Write amplification of FIFO (= LRU) cleaning: ``1 / (1 - x)`` (Desnoyers 2012, Eq. 4, in ``alpha = U/T``)."""
    return 1.0 / (1.0 - fifo_valid_fraction(alpha))


def greedy_victim_valid(alpha: float, pages_per_block: int) -> float:
    """Mean valid pages ``v`` in a block cleaned by greedy GC (mean-field, finite block).

    Solves ``(B - v)/(alpha B) = H_B - H~(v)`` exactly: the right-hand side minus
    the left is convex and piecewise linear in ``v``, so one scan over the
    integer levels finds the bracketing segment and a linear solve the root.
    Returns 0 when ``H_B <= 1/alpha`` (blocks wait until wholly invalid).
    """
    _check_alpha(alpha)
    b = pages_per_block
    if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
        raise ConfigError(f"pages_per_block must be a positive integer, not {b!r}")
    harmonic = [0.0] * (b + 1)
    for i in range(1, b + 1):
        harmonic[i] = harmonic[i - 1] + 1.0 / i
    h_b = harmonic[b]

    def gap(j: int) -> float:
        return h_b - harmonic[j] - (b - j) / (alpha * b)

    g_lo = gap(0)
    if g_lo <= 0.0:
        return 0.0
    for j in range(b):
        g_hi = gap(j + 1)
        if g_hi <= 0.0:
            return j + g_lo / (g_lo - g_hi)
        g_lo = g_hi
    raise AssertionError("unreachable: gap(B-1) < 0 for alpha < 1")


def greedy_waf(alpha: float, pages_per_block: int) -> float:
    """Write amplification of greedy GC: ``B / (B - v)`` with :func:`greedy_victim_valid` (our mean-field model).

    See :func:`desnoyers_greedy_waf` for the published formula; they agree to 0.12 % for ``B >= 64``.
    """
    v = greedy_victim_valid(alpha, pages_per_block)
    return pages_per_block / (pages_per_block - v)


def desnoyers_greedy_waf(alpha: float, pages_per_block: int) -> float:
    """Desnoyers' greedy write amplification (SYSTOR 2012, Eq. 12), for utilisation ``alpha = U/T``.

    With his ``a = T/U = 1/alpha`` and ``k = 1 + 1/(2B)``: ``A = A_lru(k a) / k``,
    where ``A_lru(a) = a / (a + W0(-a e^-a))`` is his Eq. 4 (our :func:`fifo_waf`).
    """
    _check_alpha(alpha)
    b = pages_per_block
    if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
        raise ConfigError(f"pages_per_block must be a positive integer, not {b!r}")
    ka = (1.0 + 1.0 / (2.0 * b)) / float(alpha)
    lru = ka / (ka + lambert_w0(-ka * math.exp(-ka)))
    return lru / (1.0 + 1.0 / (2.0 * b))


def agarwal_waf(alpha: float) -> float:
    """The older closed form ``(1 + rho) / (2 rho)`` of Agarwal & Marrow (2010), ``rho = op = 1/alpha - 1``.

    Kept only for comparison in the docs: it assumes blocks decay linearly and
    underestimates the simulated value (2.17 against about 2.35 at ``op = 0.3``).
    """
    _check_alpha(alpha)
    rho = 1.0 / alpha - 1.0
    return (1.0 + rho) / (2.0 * rho)
