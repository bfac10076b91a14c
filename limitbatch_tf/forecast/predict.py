"""Forecast B_crit, B_L and B_H from one small-batch run's noise scale.

B_crit. McCandlish et al. (2018) predict the critical batch size from the
gradient noise scale: B_crit ~ B_noise, approximated by B_simple =
tr(Sigma)/|G|^2 (their eq. 2.8 and section 3). B_simple grows over training
(~25x over the Fashion-MNIST LeNet-5 baseline), so the point of training
matters; the rule here (McCandlish et al. average the noise scale over
training too, their Appendix A.1, numerator and denominator apart):

  B_crit forecast = mean(tr(Sigma)) / mean(|G|^2) over the evaluations in
  the last third of training (steps > 2/3 of the run's last recorded step),

from the bias-corrected EMAs each history record of a ``--telemetry=
noise_scale`` run carries (train/probes.py). Averaging the two parts, not
their ratio, keeps the windows where the |G|^2 estimate is near zero or
negative (late training, signal below the noise) from dominating.

B_L and B_H. Definitions 2.1-2.2 of You et al. (2020) are not defined by
the noise scale, so they are forecast by calibration factors: per optimizer
family, the ratios B_L / B_crit_forecast and B_H / B_crit_forecast of the
workloads in a calibration table (experiments/forecast/calibration.json).
A factor is the geometric mean of its rows' ratios; its spread the
standard deviation of their logarithms; the interval

  B_crit_forecast * exp(mean_log +- t * sd_log * sqrt(1 + 1/n))

is a prediction interval for one new workload in log space (t the
two-sided Student's t quantile with n - 1 degrees of freedom at the stated
confidence: with 2-3 rows it is wide, as it should be). With one row there
is no spread and the point factor is printed as such; with none, only
B_crit is forecast.
"""
from __future__ import annotations

import dataclasses
import json
import math
import statistics

from scipy.stats import t as student_t

from limitbatch_tf import rundir

WINDOW_START = 2.0 / 3.0  # the last third of training, by steps
TRAJECTORY_KEYS = ("noise_scale_grad_sq", "noise_scale_trace_sigma")


class ForecastError(ValueError):
    """A run or calibration table that cannot be used; names the file."""


@dataclasses.dataclass
class CritEstimate:
    b_crit: float
    first_step: int
    last_step: int
    points: int
    b_simple_min: float  # the per-evaluation B_simple range in the window
    b_simple_max: float
    batch_size: int | None = None
    optimizer: str | None = None
    # {variable path: the same rule on that variable's |G|^2 and tr(Sigma)
    # (None where its mean |G|^2 is not positive)}: runs with
    # --telemetry=noise_scale_layers only.
    layers: dict = dataclasses.field(default_factory=dict)


def b_crit_from_history(history, window_start: float = WINDOW_START,
                        source: str = "history") -> CritEstimate:
    """The B_crit forecast of a run's history records (rule: module doc).

    Raises:
      ForecastError: no record carries the noise-scale trajectory, or the
        window's mean |G|^2 is not positive.
    """
    rows = [h for h in history if all(
        isinstance(h.get(k), (int, float)) and math.isfinite(h[k])
        for k in TRAJECTORY_KEYS)]
    if not rows:
        raise ForecastError(
            f"{source}: no noise-scale trajectory (history records without "
            f"noise_scale_grad_sq/noise_scale_trace_sigma); train the run "
            f"with --telemetry=noise_scale and a --micro_batch_size below "
            f"the batch size")
    last = max(h["step"] for h in rows)
    window = [h for h in rows if h["step"] > window_start * last] or rows[-1:]
    grad_sq = statistics.fmean(h["noise_scale_grad_sq"] for h in window)
    trace = statistics.fmean(h["noise_scale_trace_sigma"] for h in window)
    if grad_sq <= 0:
        raise ForecastError(
            f"{source}: mean |G|^2 over steps {window[0]['step']}-{last} is "
            f"{grad_sq:.3g} <= 0; the signal is below the estimator's noise "
            f"(train longer per evaluation or with a larger batch)")
    ratios = [h["noise_scale_trace_sigma"] / h["noise_scale_grad_sq"]
              for h in window if h["noise_scale_grad_sq"] > 0]
    return CritEstimate(trace / grad_sq, window[0]["step"], last, len(window),
                        min(ratios, default=float("nan")),
                        max(ratios, default=float("nan")))


def layer_b_crits(history, window_start: float = WINDOW_START) -> dict:
    """{variable: B_crit by b_crit_from_history's rule on its own parts}
    from history records' ``noise_scale_layers`` (train/probes.py); {} for
    a run without them. The global B_crit is not their mean: the parts add
    up across variables, their ratios do not."""
    names = list(dict.fromkeys(k for h in history
                               for k in h.get("noise_scale_layers") or {}))
    out = {}
    for name in names:
        rows = [dict(step=h["step"],
                     noise_scale_grad_sq=h["noise_scale_layers"][name]["grad_sq"],
                     noise_scale_trace_sigma=h["noise_scale_layers"][name][
                         "trace_sigma"])
                for h in history if name in (h.get("noise_scale_layers") or {})]
        try:
            out[name] = b_crit_from_history(rows, window_start, name).b_crit
        except ForecastError:
            out[name] = None
    return out


def _load_json(path: str, label: str, hint: str = ""):
    """JSON at ``path`` (through tf.io.gfile once TensorFlow is loaded); a
    ForecastError naming ``label`` when it cannot be read or parsed."""
    text = rundir.read_text(path)
    if text is None:
        raise ForecastError(f"{label}: cannot read (missing or unreadable)"
                            + (f"; {hint}" if hint else ""))
    try:
        return json.loads(text)
    except ValueError as e:
        raise ForecastError(f"{label}: malformed JSON ({e})") from None


def read_run(run_dir: str) -> CritEstimate:
    """The B_crit forecast of the run in ``run_dir`` (its results.json)."""
    path = rundir.join(run_dir, rundir.RESULTS_FILE)
    data = _load_json(path, path, "expected the model_dir of a finished run")
    if not isinstance(data, dict) or not isinstance(data.get("history"), list):
        raise ForecastError(f"{path}: not a results.json of limitbatch_tf "
                            f"(no history list)")
    estimate = b_crit_from_history(data["history"], source=path)
    estimate.batch_size = data.get("global_batch_size")
    estimate.optimizer = (data.get("config") or {}).get("optimizer")
    estimate.layers = layer_b_crits(data["history"])
    return estimate


@dataclasses.dataclass
class Factor:
    """One calibration factor (e.g. B_H / B_crit_forecast) of one family."""

    family: str
    bound: str  # "b_l" or "b_h"
    ratios: list  # one per calibration row
    workloads: list

    @property
    def n(self) -> int:
        return len(self.ratios)

    @property
    def geometric_mean(self) -> float:
        return math.exp(statistics.fmean(math.log(r) for r in self.ratios))

    @property
    def log_sd(self) -> float | None:
        if self.n < 2:
            return None
        return statistics.stdev(math.log(r) for r in self.ratios)

    def interval(self, b_crit: float, confidence: float):
        """(low, high) for a new workload; (point, point) with one row."""
        mean = statistics.fmean(math.log(r) for r in self.ratios)
        if self.log_sd is None:
            return b_crit * math.exp(mean), b_crit * math.exp(mean)
        # Student's t with n - 1 degrees of freedom: the spread is estimated
        # from the n rows themselves (z would be 4x too narrow at n = 2).
        t = student_t.ppf(0.5 + confidence / 2, self.n - 1)
        half = t * self.log_sd * math.sqrt(1 + 1 / self.n)
        return b_crit * math.exp(mean - half), b_crit * math.exp(mean + half)


ROW_KEYS = ("workload", "family", "b_crit_forecast", "b_l", "b_h")


def load_calibration(path: str) -> list:
    """The rows of a calibration table (format: experiments/forecast/README.md)."""
    data = _load_json(path, f"--calibration={path}")
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ForecastError(f"--calibration={path}: expected an object with "
                            f"a 'rows' list")
    for i, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ForecastError(f"--calibration={path}: row {i} lacks "
                                f"{', '.join(missing)}")
        for k in ("b_crit_forecast", "b_l", "b_h"):
            v = row[k]
            if v is not None and not (isinstance(v, (int, float)) and v > 0):
                raise ForecastError(f"--calibration={path}: row {i} "
                                    f"{k}={v!r}; expected a positive number "
                                    f"or null")
    return rows


def factors(rows) -> dict:
    """{family: {"b_l": Factor, "b_h": Factor}} from rows with the values."""
    out = {}
    for row in rows:
        for bound in ("b_l", "b_h"):
            if row.get(bound) is None or row.get("b_crit_forecast") is None:
                continue
            fam = out.setdefault(row["family"], {})
            factor = fam.setdefault(bound, Factor(row["family"], bound, [], []))
            factor.ratios.append(row[bound] / row["b_crit_forecast"])
            factor.workloads.append(row["workload"])
    return out


def report(estimate: CritEstimate, rows, confidence: float = 0.90,
           calibration_path: str = "") -> str:
    """The forecast as printed by tools/forecast.py."""
    lines = [
        f"B_crit forecast: {estimate.b_crit:.0f}  (mean tr(Sigma) / mean "
        f"|G|^2 over {estimate.points} evaluations, steps "
        f"{estimate.first_step}-{estimate.last_step}: the last third of "
        f"training; per-evaluation B_simple {estimate.b_simple_min:.0f}-"
        f"{estimate.b_simple_max:.0f})"]
    if estimate.batch_size:
        lines[0] += f"; run at batch {estimate.batch_size}"
        if estimate.optimizer:
            lines[0] += f" with {estimate.optimizer}"
    if estimate.layers:
        lines.append("Per variable (the same rule on its own |G|^2 and "
                     "tr(Sigma)): " + ", ".join(
                         f"{name} {'-' if b is None else f'{b:.0f}'}"
                         for name, b in estimate.layers.items()))
    by_family = factors(rows)
    if not by_family:
        lines.append(
            f"No calibration rows with B_L/B_H in {calibration_path or 'the table'}: "
            f"intervals for B_L and B_H need the calibration study "
            f"(experiments/forecast/README.md).")
        return "\n".join(lines)
    lines.append(f"Calibration factors ({calibration_path}; interval: "
                 f"{confidence:.0%} log-normal prediction interval):")
    for family, bounds in sorted(by_family.items()):
        for bound in ("b_l", "b_h"):
            f = bounds.get(bound)
            if f is None:
                continue
            name = "B_L" if bound == "b_l" else "B_H"
            low, high = f.interval(estimate.b_crit, confidence)
            ratios = ", ".join(f"{w} {r:.3g}" for w, r in
                               zip(f.workloads, f.ratios))
            spread = ("no spread (1 row)" if f.log_sd is None
                      else f"log-sd {f.log_sd:.3f}")
            where = (f"{name} ~ {low:.0f}" if low == high
                     else f"{name} in [{low:.0f}, {high:.0f}]")
            # A family's factors divide its rows' B_L/B_H by forecasts from
            # noise runs of that family's own recipe; the noise scale depends
            # on the optimizer (LeNet-5: 979 with momentum, 1,913 with LAMB,
            # REPORT.md), so another family's run is flagged.
            other = (f" [calibrated on {family} runs; this run used "
                     f"{estimate.optimizer}]"
                     if estimate.optimizer and estimate.optimizer != family
                     else "")
            lines.append(f"  {family}: {name}/B_crit = {f.geometric_mean:.3g} "
                         f"(n={f.n}, {spread}; {ratios}) -> {where}{other}")
    return "\n".join(lines)
