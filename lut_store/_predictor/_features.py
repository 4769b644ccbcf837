"""What the latency model counts: the loop iterations of the CMSIS-NN kernel an op configuration
runs, as named features (one matrix row per configuration).

CONV_2D follows what TFLM's CMSIS-NN kernel really executes (`arm_convolve_wrapper_s8`, DSP build):

* `arm_convolve_1x1_s8_fast` (1x1 kernel, stride 1, no padding, and C_in % 4 == 0 as the 2021/22
  wrapper demands; every measured 1x1 conv has such a C_in, so the data cannot tell the later rule
  without it apart) runs `arm_nn_mat_mult_nt_t_s8`: per pair of output channels a sum over the
  C_in weights (input-offset term), then per (channel pair, pixel pair) a block of 2x2
  accumulators with an inner loop 16 columns at a time, then 4 at a time.
* everything else runs `arm_convolve_s8` (`arm_convolve_1_x_n_s8`, chosen for inputs of height 1,
  is `arm_convolve_s8` again outside MVE builds): im2col of two output pixels at a time
  (`arm_q7_to_q15_with_offset` per in-bounds kernel tap, 4 values per iteration plus leftovers;
  `memset` per padded tap) and `arm_nn_mat_mult_kernel_s8_s16` per column pair: per pair of output
  channels a loop over K = C_in·k_h·k_w, 4 columns per iteration plus K % 4 leftovers.

The features count the iterations of those loops (odd pixel / channel counts, whose leftover code
the measured shapes never exercise, count as half a pair). One more feature per path models the
cache: weights are read from flash through a small cache, and a weight byte whose reuse distance
exceeds the cache's effective size C misses; the miss fraction of a stream of W bytes cycled
through C bytes is max(0, 1 - C/W). The reuse distance is all weights (C_out·K bytes) for the
im2col path, one channel pair's weights (2·C_in bytes) for the 1x1 path.

ADD, MEAN, SOFTMAX (and pooling, depthwise, fully connected when a LUT has them): a line in the
element (or MAC) count.
"""

from __future__ import annotations

import numpy as np

from .._lut import OpConfig, same_padding

CONV = "CONV_2D"
FAST_1X1 = "arm_convolve_1x1_s8_fast"
IM2COL = "arm_convolve_s8"
CONV_PATHS = (IM2COL, FAST_1X1)

# Feature names per model kind, in the order coefficients are stored.
FEATURES = {
    IM2COL: ("const", "column_pairs", "channel_pairs", "mac_quads", "mac_leftovers",
             "tap_copies", "tap_copy_quads", "tap_copy_leftovers", "tap_pads", "tap_pad_values",
             "weight_misses"),
    FAST_1X1: ("const", "channel_pairs", "channel_pair_inputs", "pixel_channel_pairs",
               "pair_loops_16", "pair_loops_4", "weight_misses"),
    "elements": ("elements", "const"),
    "input_elements": ("input_elements", "const"),
    "macs": ("macs", "const", "output_elements"),
}
# Op kinds with a model family other than "output elements".
_OP_FAMILY = {"MEAN": "input_elements", "SUM": "input_elements", "AVERAGE_POOL_2D": "input_elements",
              "MAX_POOL_2D": "input_elements", "DEPTHWISE_CONV_2D": "macs",
              "FULLY_CONNECTED": "macs"}


def _prod(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 0


def _in_bounds_taps(in_size: int, k: int, s: int, out: int, pad: int) -> int:
    """Kernel taps over all output positions of one axis that land inside the input."""
    total = 0
    for j in range(k):
        lo = max(0, -((j - pad) // s))                     # ceil((pad - j) / s)
        hi = min(out - 1, (in_size - 1 + pad - j) // s)
        total += max(0, hi - lo + 1)
    return total


def conv_geometry(cfg: OpConfig) -> tuple | None:
    """(path, N·P, C_in, C_out, K, in-bounds taps, padded taps) or None if not a valid conv."""
    if len(cfg.input_shape) != 4 or len(cfg.output_shape) != 4:
        return None
    n, h, w, ci = cfg.input_shape
    n_out, ho, wo, co = cfg.output_shape
    (kh, kw), (sh, sw) = cfg.kernel, cfg.stride
    if min(n, h, w, ci, ho, wo, co, kh, kw, sh, sw) <= 0 or n_out != n:
        return None
    if cfg.padding == "same":
        ph, pw = same_padding(h, kh, sh, ho)[0], same_padding(w, kw, sw, wo)[0]
    elif cfg.padding == "valid":
        ph = pw = 0
    else:
        return None
    taps_h, taps_w = _in_bounds_taps(h, kh, sh, ho, ph), _in_bounds_taps(w, kw, sw, wo, pw)
    inside = n * taps_h * taps_w
    pixels = n * ho * wo
    padded = pixels * kh * kw - inside
    fast = kh == kw == 1 and sh == sw == 1 and ph == pw == 0 and ci % 4 == 0
    return (FAST_1X1 if fast else IM2COL), pixels, ci, co, ci * kh * kw, inside, padded


def _miss(reuse_bytes: np.ndarray, cache: float | None) -> np.ndarray:
    if cache is None:
        return np.zeros_like(reuse_bytes, dtype=float)
    return np.maximum(0.0, 1.0 - cache / np.maximum(reuse_bytes, 1.0))


def conv_matrix(path: str, geo: np.ndarray, cache: float | None) -> np.ndarray:
    """The feature matrix of one conv path from rows of `conv_geometry` (the cache size in
    bytes, or None for no miss feature)."""
    pixels, ci, co, k, inside, padded = (geo[:, i].astype(float) for i in range(1, 7))
    col_pairs, ch_pairs = pixels / 2.0, co / 2.0
    if path == IM2COL:
        pairs = col_pairs * ch_pairs
        quads = pairs * np.floor(k / 4)
        cols = [np.ones_like(pixels), col_pairs, pairs, quads, pairs * (k % 4),
                inside, inside * np.floor(ci / 4), inside * (ci % 4), padded, padded * ci,
                quads * _miss(co * k, cache)]
    else:
        pairs = col_pairs * ch_pairs
        cols = [np.ones_like(pixels), ch_pairs, ch_pairs * ci, pairs, pairs * np.floor(ci / 16),
                pairs * np.floor((ci % 16) / 4), pairs * (ci / 4) * _miss(2 * ci, cache)]
    return np.column_stack(cols)


def _simple_row(family: str, cfg: OpConfig) -> list[float] | None:
    out_el, in_el = _prod(cfg.output_shape), _prod(cfg.input_shape)
    if out_el <= 0 or in_el <= 0:
        return None
    if family == "elements":
        return [float(out_el), 1.0]
    if family == "input_elements":
        return [float(in_el), 1.0]
    if cfg.op == "DEPTHWISE_CONV_2D":
        kh, kw = cfg.kernel
        if kh <= 0 or kw <= 0:
            return None
        macs = out_el * kh * kw
    else:  # FULLY_CONNECTED: every output unit reads every input feature of its batch row
        batch = cfg.input_shape[0] if len(cfg.input_shape) > 1 else 1
        macs = out_el * (in_el // max(batch, 1))
    return [float(macs), 1.0, float(out_el)]


def route(cfg: OpConfig) -> tuple[str, tuple | list | None]:
    """(model key within the op, feature source or None if malformed) for one configuration."""
    if cfg.op == CONV:
        geo = conv_geometry(cfg)
        return (geo[0] if geo else IM2COL), geo
    family = _OP_FAMILY.get(cfg.op, "elements")
    return family, _simple_row(family, cfg)


def matrix(key: str, rows: list, model: dict) -> np.ndarray:
    """The feature matrix of `rows` (feature sources from `route`) for one fitted `model`."""
    if key in CONV_PATHS:
        return conv_matrix(key, np.array(rows, dtype=object), model.get("cache_bytes"))
    width = len(model["features"])
    return np.array([r[:width] for r in rows], dtype=float)
