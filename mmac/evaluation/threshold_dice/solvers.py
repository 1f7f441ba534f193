"""The exact solvers of the optimal two-threshold Dice: one Dinkelbach scan, three ways to get its input.

Algorithm. Sort the distinct values ``v_1 < ... < v_K`` of a slice, with ``c_k`` pixels and ``m_k`` mask
pixels at ``v_k`` and ``M = sum m_k``. A threshold pair selects a contiguous run ``i..j`` of distinct values
and ``Dice = 2 S_m / (M + S_c)`` with ``S_m, S_c`` the sums of ``m_k, c_k`` over the run. The maximum ratio
over runs is found by Dinkelbach iterations: with the current best ratio ``lambda = p / q``, the run that
maximises ``sum_k (2 q m_k - p c_k) - p M`` (a maximum-subarray scan: cumsum and ``np.minimum.accumulate``)
either has a positive value, and then a strictly larger ratio, or proves ``p / q`` optimal. All of it runs in
int64 arithmetic, so the optimality test is exact (no float tolerance), vectorised over a batch of slices.

Paths (all exact), chosen per batch by :func:`choose_solver`:

* ``integer``: integer-valued images (integer dtypes, or floats holding integers, as 8-bit translations do)
  get their per-value counts from one ``np.bincount`` over the batch instead of a sort;
* ``binned``: float images are first binned into ``num_bins`` value-ordered bins per slice. The best run of
  whole bins is an exact lower bound ``lambda_0``; an upper bound per pair of end bins shows which bins can
  hold an end of a run beating ``lambda_0``, and only the pixels of those bins are sorted. Each maximal
  stretch of the remaining bins becomes one atomic group, which loses nothing because no better threshold
  can fall inside it. The bin-level optimum itself is found coarse-to-fine (runs of 32 bins first) to save
  iterations;
* ``sort``: ``np.unique`` per slice, then the scan (the plain method, any real dtype).

Every solver takes flattened ``(N, P)`` images, bool masks and the per-slice extremes ``vmin, vmax`` (N,) and
returns ``(p, q, lo, hi)``: the exact optimum ``p / q`` as int64 (N,) each, and the thresholds (N,).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Above this many distinct integer values per slice the dense bincount layout costs more than binning.
_MAX_DENSE_RANGE_FLOOR = 4096
# Elements per chunk of per-pixel work (keeps temporaries in a few tens of MB).
_CHUNK_ELEMENTS = 1 << 20
# Bins per coarse bin for the first, cheap Dinkelbach pass of the binned path.
_COARSE_FACTOR = 32
# method='integer' refuses wider value ranges (memory: one counter per value and slice of a chunk).
MAX_INTEGER_SPAN = 1 << 24


# ----------------------------------------------------------------------------------------------------------
# Core: Dinkelbach over runs of value groups, exact int64 arithmetic, vectorised over rows
# ----------------------------------------------------------------------------------------------------------
def _initial_runs(m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """The run from the first to the last group holding mask pixels (the optimum for ``lambda = 0``)."""
    n, length = m.shape
    has = m > 0
    i = np.argmax(has, axis=1)
    j = length - 1 - np.argmax(has[:, ::-1], axis=1)
    cc = np.zeros((n, length + 1), dtype=np.int64)
    np.cumsum(c, axis=1, out=cc[:, 1:])
    rows = np.arange(n)
    total_m = m.sum(axis=1)
    p = 2 * total_m
    q = total_m + cc[rows, j + 1] - cc[rows, i]
    return p, q, i, j


def _run_sums(m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(M per row, prefix sums of m, prefix sums of c, packed)``: the prefix sums are (N, L + 1), a run i..j
    sums ``cm[j + 1] - cm[i]``; ``packed`` says whether a start index fits in the low digits (base L) of the
    scan's int64 gains (``|prefix of w| <= 2 q M + p P``)."""
    n, length = m.shape
    total_m = m.sum(axis=1)
    cm = np.zeros((n, length + 1), np.int64)
    cs = np.zeros((n, length + 1), np.int64)
    np.cumsum(m, axis=1, out=cm[:, 1:])
    np.cumsum(c, axis=1, out=cs[:, 1:])
    bound = int((2 * (total_m + cs[:, -1]) * total_m + 2 * total_m * cs[:, -1]).max()) * max(length, 1)
    return total_m, cm, cs, bound < 2**62


def _dinkelbach(m: np.ndarray, c: np.ndarray, p: np.ndarray, q: np.ndarray, i: np.ndarray,
                j: np.ndarray) -> tuple[np.ndarray, ...]:
    """Maximise ``2 S_m / (M + S_c)`` over runs of groups, per row, exactly.

    Args:
        m: Mask pixels per group, int64 of shape (N, L). Padding groups hold zeros.
        c: Pixels per group, int64 of shape (N, L).
        p: ``2 S_m`` of a feasible starting run, int64 of shape (N,).
        q: ``M + S_c`` of that run, int64 of shape (N,).
        i: First group of that run, shape (N,).
        j: Last group of that run, shape (N,).

    Returns:
        ``(p, q, i, j)`` of an optimal run per row, each of shape (N,). Its end groups are never empty
        groups (``c == 0``): the scan takes the first maximising end and the last minimising start.
    """
    n, length = m.shape
    p, q, i, j = (np.array(a, dtype=np.int64) for a in (p, q, i, j))
    total_m, cm, cs, packed = _run_sums(m, c)
    scale = length if packed else 1
    tie = (length - 1 - np.arange(length))[None, :]  # (1, L): smaller for later starts -> last argmin
    active = np.arange(n)
    while active.size:
        every = active.size == n
        ma, ca = (m, c) if every else (m[active], c[active])
        pa, qa, ta = p[active], q[active], total_m[active]
        w = ma * (2 * scale * qa)[:, None]
        w -= ca * (scale * pa)[:, None]
        prefix = np.cumsum(w, axis=1)  # (n_active, L): prefix[:, t] = scale * sum of w over groups <= t
        starts = np.empty_like(prefix)  # scale * sum of w over groups < t, for start t
        starts[:, 0] = 0
        starts[:, 1:] = prefix[:, :-1]
        if packed:
            starts += tie
        np.minimum.accumulate(starts, axis=1, out=starts)  # best start at or before each end
        prefix -= starts  # packed gain of the best run ending at each group
        jj = np.argmax(prefix, axis=1)  # first maximising end
        rows = np.arange(active.size)
        best_start = starts[rows, jj]
        if packed:
            ii = length - 1 - np.mod(best_start, length)
            gain = (prefix[rows, jj] + (length - 1 - ii)) // length
        else:
            gain = prefix[rows, jj]
        better = gain - pa * ta > 0
        if not better.any():
            break
        rows, jj = rows[better], jj[better]
        if packed:
            ii = ii[better]
        else:  # last minimising start, found from the unaccumulated start prefixes
            raw = np.zeros((rows.size, length), np.int64)
            np.cumsum(w[rows, :-1], axis=1, out=raw[:, 1:])
            hit = (raw == best_start[better][:, None]) & (np.arange(length)[None, :] <= jj[:, None])
            ii = length - 1 - np.argmax(hit[:, ::-1], axis=1)
        sel = active[better]
        p[sel] = 2 * (cm[sel, jj + 1] - cm[sel, ii])
        q[sel] = total_m[sel] + cs[sel, jj + 1] - cs[sel, ii]
        i[sel], j[sel] = ii, jj
        active = sel
    return p, q, i, j


# ----------------------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------------------
def _is_integral(images: np.ndarray) -> bool:
    if np.issubdtype(images.dtype, np.integer):
        return True
    # Cheap rejection on the first slice before checking everything.
    if not np.array_equal(images[0], np.floor(images[0])):
        return False
    return bool(np.array_equal(images, np.floor(images)))


def _value_span(vmin: np.ndarray, vmax: np.ndarray) -> float:
    """Largest ``max - min + 1`` over slices with extremes ``vmin, vmax`` (N,), as a float (no overflow)."""
    return float((vmax.astype(np.float64) - vmin.astype(np.float64)).max()) + 1.0


def _exact_in_float64(vmin: np.ndarray, vmax: np.ndarray) -> bool:
    """Whether converting values within ``[vmin, vmax]`` to float64 keeps every value (``|x| <= 2**53``)."""
    if vmin.dtype.kind not in "iu" or vmin.dtype.itemsize <= 4:
        return True
    return bool(np.abs(vmin.astype(np.float64)).max() <= 2**53 and np.abs(vmax.astype(np.float64)).max() <= 2**53)


def _solve_integer(images: np.ndarray, masks: np.ndarray, vmin: np.ndarray,
                   vmax: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact path for integer-valued ``(N, P)`` images: per-value counts by one bincount per chunk."""
    n, pixels = images.shape
    span = int((vmax.astype(np.int64) - vmin.astype(np.int64)).max()) + 1
    out_p = np.empty(n, np.int64)
    out_q = np.empty(n, np.int64)
    lo = np.empty(n, images.dtype)
    hi = np.empty(n, images.dtype)
    step = max(1, _CHUNK_ELEMENTS // max(pixels, 2 * span))
    key_type = np.int32 if 2 * span * step < 2**31 else np.int64
    for start in range(0, n, step):
        stop = min(n, start + step)
        k = stop - start
        base = vmin[start:stop].astype(np.int64)
        # key = 2 * (value - slice min) + mask + 2 * span * slice  -> counts of (slice, value, in mask)
        offsets = (2 * span * np.arange(k, dtype=np.int64) - 2 * base).astype(key_type)
        block = images[start:stop]
        if key_type == np.int32 and block.dtype.kind in "iu" and block.dtype.itemsize <= 2:
            key = block.astype(np.int32)  # small ints: no overflow possible below
        else:
            key = (block.astype(np.int64) - base[:, None]).astype(key_type)
            offsets = (2 * span * np.arange(k, dtype=np.int64)).astype(key_type)
        key *= 2
        key += masks[start:stop]
        key += offsets[:, None]
        counts = np.bincount(key.ravel(), minlength=2 * span * k).reshape(k, span, 2)
        m = counts[:, :, 1].astype(np.int64)
        c = m + counts[:, :, 0]
        p, q, i, j = _dinkelbach(m, c, *_initial_runs(m, c))
        out_p[start:stop], out_q[start:stop] = p, q
        lo[start:stop] = (base + i).astype(images.dtype)
        hi[start:stop] = (base + j).astype(images.dtype)
    return out_p, out_q, lo, hi


def _solve_binned(images: np.ndarray, masks: np.ndarray, num_bins: int | None, vmin: np.ndarray,
                  vmax: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact path for any real ``(N, P)`` images: bin, bound, then sort only the bins that can matter."""
    n, pixels = images.shape
    bins = num_bins or int(min(4096, max(16, pixels // 32)))
    out_p = np.empty(n, np.int64)
    out_q = np.empty(n, np.int64)
    lo = np.empty(n, images.dtype)
    hi = np.empty(n, images.dtype)
    step = max(1, _CHUNK_ELEMENTS // max(pixels, bins))
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = images[start:stop]
        if block.dtype.kind in "iu":
            block = block.astype(np.float64)  # exact: callers send integers only when |x| <= 2**53
        res = _solve_binned_chunk(block, masks[start:stop], bins, vmin[start:stop], vmax[start:stop])
        out_p[start:stop], out_q[start:stop], lo[start:stop], hi[start:stop] = res
    return out_p, out_q, lo, hi


def _global_bins(block: np.ndarray, bins: int, vmin: np.ndarray, vmax: np.ndarray) -> np.ndarray:
    """Value-ordered global bin ``slice * bins + bin`` of every pixel of ``(k, P)`` values, int32 (k, P).

    ``bin = floor((x - min) * scale)`` with ``scale = (bins - 0.5) / (max - min)``, computed as
    ``(x - min) * scale + slice * bins`` then truncated. Subtraction, multiplication, addition of a constant
    and truncation are each monotone roundings, so ``x <= y`` implies ``bin(x) <= bin(y)`` whatever rounding
    happens: bins are value intervals and equal values share a bin. The ``- 0.5`` keeps every value below
    the next slice's first bin despite rounding (relative error < 2**-20 << 0.5 / bins).
    """
    k = block.shape[0]
    vmin = vmin.astype(block.dtype)[:, None]  # (k, 1)
    width = vmax.astype(np.float64)[:, None] - vmin.astype(np.float64)
    offset = (bins * np.arange(k, dtype=np.float64))[:, None]
    with np.errstate(divide="ignore", over="ignore"):
        scale = np.where(width > 0, (bins - 0.5) / np.where(width > 0, width, 1.0), 0.0)
        fits32 = bool(np.all(width < 1e38) and np.all(scale < 1e38)) and k * bins <= 2**21
        if block.dtype == np.float32 and fits32:
            t = block - vmin
            t *= scale.astype(np.float32)
            t += offset.astype(np.float32)
        elif np.all(np.isfinite(scale)) and np.all(np.isfinite(width)):
            t = block.astype(np.float64) - vmin.astype(np.float64)
            t *= scale
            t += offset
        else:  # extreme ranges: t / width <= 1 never overflows
            t = block.astype(np.float64) - vmin.astype(np.float64)
            t /= np.where(width > 0, width, np.inf)
            t *= bins - 0.5
            t += offset
    return t.astype(np.int32)


def _candidate_bins(m: np.ndarray, c: np.ndarray, p0: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """Bins that can hold an end of a run of values with Dice > ``p0 / q0``, bool (k, B).

    A run with its lower end in bin ``a`` and upper end in bin ``b >= a`` holds at most all mask pixels
    of bins ``a..b`` and at least all pixels strictly between, plus its own mask pixels, so its Dice is at
    most ``2 (Mi + m_a + m_b) / (M + Ci + m_a + m_b)`` (``Mi, Ci``: sums over the bins strictly between;
    ``a == b``: ``2 m_a / (M + m_a)``); that bound increases with the end-bin mask count. Multiplied out at
    ``lambda_0 = p0 / q0``: ``g(a, b) = v_a + (U[b] - U[a + 1]) + v_b - p0 M > 0`` with ``u = 2 q0 m - p0 c``
    (prefix ``U``) and ``v = (2 q0 - p0) m``; ``a == b``: ``v_a - p0 M > 0``. Exact in int64.
    """
    k, bins = m.shape
    total_m = m.sum(axis=1)
    u = m * (2 * q0)[:, None]
    u -= c * p0[:, None]
    v = m * (2 * q0 - p0)[:, None]
    upre = np.zeros((k, bins + 1), np.int64)
    np.cumsum(u, axis=1, out=upre[:, 1:])
    base = (p0 * total_m)[:, None]
    right = upre[:, :bins] + v  # U[b] + v_b, (k, B)
    left = v - upre[:, 1:]  # v_a - U[a + 1], (k, B)
    floor = np.iinfo(np.int64).min // 4
    # lower end a: best upper end b > a (suffix max of `right`, shifted by one)
    best_b = np.full((k, bins), floor, np.int64)
    best_b[:, :-1] = np.maximum.accumulate(right[:, :0:-1], axis=1)[:, ::-1]
    # upper end b: best lower end a < b (prefix max of `left`, shifted by one)
    best_a = np.full((k, bins), floor, np.int64)
    best_a[:, 1:] = np.maximum.accumulate(left[:, :-1], axis=1)
    cand = v - base > 0  # a == b (also implied by a pair with a neighbouring bin)
    cand |= left + best_b - base > 0
    cand |= right + best_a - base > 0
    return cand


def _bin_level_optimum(m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact best run of whole bins, ``(p, q, first bin, last bin)`` per row of ``(k, B)`` counts. Started from
    the best run of coarse bins (groups of ``_COARSE_FACTOR`` bins), which leaves few iterations at full size."""
    k, bins = m.shape
    rows = np.arange(k)
    factor = _COARSE_FACTOR if bins % _COARSE_FACTOR == 0 and bins >= 4 * _COARSE_FACTOR else 1
    if factor == 1:
        return _dinkelbach(m, c, *_initial_runs(m, c))
    m3 = m.reshape(k, bins // factor, factor)  # (k, B / factor, factor)
    c3 = c.reshape(k, bins // factor, factor)
    mc, cc = m3.sum(axis=2), c3.sum(axis=2)
    pc, qc, ic, jc = _dinkelbach(mc, cc, *_initial_runs(mc, cc))
    start = ic * factor + np.argmax(c3[rows, ic] > 0, axis=1)  # first non-empty bin of the coarse one
    stop = jc * factor + factor - 1 - np.argmax(c3[rows, jc, ::-1] > 0, axis=1)
    return _dinkelbach(m, c, pc, qc, start, stop)


def _value_groups(block: np.ndarray, mblock: np.ndarray, gbin: np.ndarray, cand: np.ndarray,
                  bins: int) -> tuple[np.ndarray, ...]:
    """The pixels of candidate bins sorted and grouped by equal value: per group its global bin, value, pixel
    and mask counts and rank within its bin; and the groups per bin, ``(k, B)``."""
    k = block.shape[0]
    flat_bins = gbin.ravel()
    sel = np.flatnonzero(cand.ravel()[flat_bins])
    sel_bin = flat_bins[sel]
    sel_val = block.ravel()[sel]
    sel_m = mblock.ravel()[sel]
    order = np.lexsort((sel_val, sel_bin))
    sel_bin, sel_val, sel_m = sel_bin[order], sel_val[order], sel_m[order]
    new = np.ones(sel.size, bool)
    new[1:] = (sel_bin[1:] != sel_bin[:-1]) | (sel_val[1:] != sel_val[:-1])
    starts = np.flatnonzero(new)
    g_bin = sel_bin[starts]
    g_val = sel_val[starts]
    g_c = np.diff(np.append(starts, sel.size))
    g_m = np.add.reduceat(sel_m.astype(np.int64), starts) if starts.size else np.zeros(0, np.int64)
    per_bin = np.bincount(g_bin, minlength=k * bins).reshape(k, bins)
    first_group_of_bin = np.cumsum(per_bin.ravel()) - per_bin.ravel()
    g_rank = np.arange(starts.size) - first_group_of_bin[g_bin]
    return g_bin, g_val, g_c, g_m, g_rank, per_bin


def _solve_binned_chunk(block: np.ndarray, mblock: np.ndarray, bins: int, vmin: np.ndarray,
                        vmax: np.ndarray) -> tuple[np.ndarray, ...]:
    """Exact optimum for ``(k, P)`` float values and bool masks; see the module docstring."""
    k = block.shape[0]
    rows = np.arange(k)
    gbin = _global_bins(block, bins, vmin, vmax)  # (k, P): slice * bins + bin
    key = gbin * 2
    key += mblock
    counts = np.bincount(key.ravel(), minlength=2 * bins * k).reshape(k, bins, 2)
    m = counts[:, :, 1].astype(np.int64)  # (k, B)
    c = m + counts[:, :, 0]

    # 1. Exact best run of whole bins: a lower bound lambda_0 = p0 / q0 that real thresholds reach.
    p0, q0, a0, b0 = _bin_level_optimum(m, c)

    # 2. Bins that can hold an end of a better run; the ends of the bin-level optimum are refined too,
    #    so that its thresholds are known values.
    cand = _candidate_bins(m, c, p0, q0)
    cand[rows, a0] = True
    cand[rows, b0] = True
    cand &= c > 0

    # 3. Sort the pixels of candidate bins only; group equal values.
    g_bin, g_val, g_c, g_m, g_rank, per_bin = _value_groups(block, mblock, gbin, cand, bins)

    # 4. Layout per slice: candidate bins expand into their value groups; each maximal run of other bins
    #    becomes one atomic group (no optimal threshold falls inside it).
    run_start = ~cand
    run_start[:, 1:] &= cand[:, :-1]
    slots = np.where(cand, per_bin, run_start)  # (k, B) slots each bin opens
    end = np.cumsum(slots, axis=1)
    first_slot = np.where(cand, end - slots, end - 1)  # other bins: the slot of their run
    length = int(end[:, -1].max())
    flat_slot = (first_slot + (length * rows)[:, None]).ravel()
    other = ~cand.ravel()
    rm = np.bincount(flat_slot[other], weights=m.ravel()[other], minlength=k * length)
    rc = np.bincount(flat_slot[other], weights=c.ravel()[other], minlength=k * length)
    rv = np.full(k * length, np.nan, np.float64)
    g_slot = flat_slot[g_bin] + g_rank
    rm[g_slot], rc[g_slot], rv[g_slot] = g_m, g_c, g_val
    rm = rm.astype(np.int64).reshape(k, length)  # float64 sums of ints < 2**53: exact
    rc = rc.astype(np.int64).reshape(k, length)
    rv = rv.reshape(k, length)

    # 5. Exact optimum, started from the bin-level one (only strict improvements move it).
    i0 = first_slot[rows, a0]
    j0 = first_slot[rows, b0] + slots[rows, b0] - 1
    p, q, i, j = _dinkelbach(rm, rc, p0, q0, i0, j0)
    lo, hi = rv[rows, i], rv[rows, j]
    if np.isnan(lo).any() or np.isnan(hi).any():  # pragma: no cover - would be a bug in the bound above
        raise RuntimeError("internal error: an optimal threshold fell inside an unrefined bin")
    return p, q, lo.astype(block.dtype), hi.astype(block.dtype)


def solve_sort(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Plain exact path: ``np.unique`` per slice, then the scan. Any real dtype."""
    n = images.shape[0]
    out_p = np.empty(n, np.int64)
    out_q = np.empty(n, np.int64)
    lo = np.empty(n, images.dtype)
    hi = np.empty(n, images.dtype)
    for s in range(n):
        values, inverse = np.unique(images[s], return_inverse=True)
        c = np.bincount(inverse, minlength=values.size)[None, :].astype(np.int64)
        m = np.bincount(inverse[masks[s]], minlength=values.size)[None, :].astype(np.int64)
        p, q, i, j = _dinkelbach(m, c, *_initial_runs(m, c))
        out_p[s], out_q[s], lo[s], hi[s] = p[0], q[0], values[i[0]], values[j[0]]
    return out_p, out_q, lo, hi


def choose_solver(images: np.ndarray, vmin: np.ndarray, vmax: np.ndarray, method: str,
                   num_bins: int | None) -> Callable[..., tuple[np.ndarray, ...]]:
    """The exact path for ``method`` and the batch: ``solver(images, masks, vmin, vmax)``."""
    if method == "sort" or (method in ("auto", "binned") and not _exact_in_float64(vmin, vmax)):
        return lambda images, masks, vmin, vmax: solve_sort(images, masks)

    def binned(images, masks, vmin, vmax):
        return _solve_binned(images, masks, num_bins, vmin, vmax)

    if method == "binned":
        return binned
    integral = _is_integral(images)
    span = _value_span(vmin, vmax)
    if method == "integer":
        if not integral:
            raise ValueError("method='integer' needs integer-valued images; these hold non-integer values")
        if span > MAX_INTEGER_SPAN:
            raise ValueError(f"method='integer' handles value ranges up to {MAX_INTEGER_SPAN} per slice, "
                             f"got {span:.0f}; use method='auto'")
        return _solve_integer
    if integral and span <= max(_MAX_DENSE_RANGE_FLOOR, 2 * images.shape[1]):
        return _solve_integer
    return binned
