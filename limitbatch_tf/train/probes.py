"""Opt-in training telemetry for batch-size science (--telemetry=...).

- ``weight_distance``: ||w_t - w_0|| per layer and globally at every
  evaluation (the paper's Figures 11-12); w_0 is checkpointed so a resumed
  run measures from the true start.
- ``trust_ratios``: the per-layer trust ratios of the last step of LARS,
  LAMB or the layer-wise wrapper (appendix 6.3), at every host loop.
- ``grad_norm``: the norm of the global gradient, per host loop (mean).
- ``noise_scale``: the simple gradient noise scale B_simple = tr(Sigma)/|G|^2
  of McCandlish et al. (2018), from micro-batch (size b) and global (size B)
  gradients of the same parameters with the unbiased two-size estimator,
  numerator and denominator averaged separately (bias-corrected EMAs)
  before dividing, and recorded in every results.json history record (the
  trajectory: noise_scale_b_simple, noise_scale_grad_sq,
  noise_scale_trace_sigma) and per host loop in TensorBoard;
  with ``noise_scale_layers`` also per trainable variable (the same
  estimator on each variable's squared norms: history records carry
  ``noise_scale_layers`` = {variable path: {b_simple, grad_sq,
  trace_sigma}}, TensorBoard ``noise_scale/<path>``); per-variable |G|^2
  and tr(Sigma) add up to the global ones, so the global B_simple is their
  ratio of sums, not a mean of the layers' B_simple;
  plus the signal/noise split of appendix 6.1 at the run's batch size B:
  signal power |G|^2 (along the true gradient), noise power tr(Sigma)/B
  (perpendicular, for many parameters), so SNR = B / B_simple: the signal
  of a summed batch grows like B, its noise like sqrt(B).
All go to TensorBoard and to results.json["telemetry"].
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

# The estimator itself imports no TensorFlow: the forecast tools use it too.
from limitbatch_tf.forecast.noise_scale import NoiseScaleEMA  # noqa: F401

# The probe names --telemetry accepts: config.PROBES (one home, TF-free).


def _state_variable(rows):
    """A checkpointed [rows, 3] float64 NoiseScaleEMA state, -1 = unset."""
    return tf.Variable(tf.fill([rows, 3], tf.constant(-1.0, tf.float64)),
                       trainable=False)


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


class Probes:
    """The probes named in ``names``, bound to one model and optimizer."""

    def __init__(self, names, strategy, model, optimizer, layout, previous=None):
        self.names = tuple(names)
        self.model, self.optimizer, self.layout = model, optimizer, layout
        previous = previous or {}
        self.record = {name: list(previous.get(name, [])) for name in self.names
                       if not name.startswith("noise_scale")}
        self.initial = None
        if "weight_distance" in self.names:
            with strategy.scope():
                self.initial = [tf.Variable(v.value, trainable=False)
                                for v in model.trainable_variables]
        self.noise = NoiseScaleEMA(state=previous.get("noise_scale_state"))
        self.layer_noise = {}
        if "noise_scale_layers" in self.names:
            states = previous.get("noise_scale_layers_state", {})
            self.layer_noise = {v.path: NoiseScaleEMA(state=states.get(v.path))
                                for v in model.trainable_variables}
        # The EMAs' state is checkpointed too: checkpoints can lag
        # results.json (--checkpoint_every_epochs, a lost newest file), and
        # a resumed run must continue the EMAs the restored step saw. Host
        # float64 variables outside the strategy (no accelerator holds
        # them); -1 marks "not in the checkpoint" (one written before they
        # existed), where results.json's state stands.
        self._ema_vars = {}
        if "noise_scale" in self.names:
            self._ema_vars["noise_scale_state"] = _state_variable(1)
        if self.layer_noise:
            self._ema_vars["noise_scale_layers_state"] = _state_variable(
                len(self.layer_noise))

    @property
    def measure_gradients(self):
        return "grad_norm" in self.names or "noise_scale" in self.names

    def checkpoint_items(self):
        items = dict(self._ema_vars)
        if self.initial:
            items["initial_weights"] = self.initial
        return items

    def truncate(self, step):
        """Called after the checkpoint at ``step`` is restored: drops records
        after it (the lost future of a resumed run) and takes the noise
        EMAs' state from the checkpoint where it holds one."""
        for name, rows in self.record.items():
            self.record[name] = [r for r in rows if r["step"] <= step]
        emas = {"noise_scale_state": [self.noise],
                "noise_scale_layers_state": list(self.layer_noise.values())}
        for key, variable in self._ema_vars.items():
            rows = variable.numpy()
            if rows[0, 2] >= 0:
                for ema, row in zip(emas[key], rows):
                    ema.load_state(row.tolist())

    def _save_ema_state(self):
        if "noise_scale_state" in self._ema_vars:
            self._ema_vars["noise_scale_state"].assign([self.noise.state()])
        if "noise_scale_layers_state" in self._ema_vars:
            self._ema_vars["noise_scale_layers_state"].assign(
                [ema.state() for ema in self.layer_noise.values()])

    def after_loop(self, step, steps, small_sum, big_sum, telemetry,
                   layer_sums=None):
        """Updates the probes after a host loop of ``steps`` steps; the sums
        are StepFunctions.train_loop's and ``layer_sums()``'s."""
        scalars = {}
        if self.measure_gradients and steps:
            small, big = small_sum / steps, big_sum / steps
            if "grad_norm" in self.names:
                scalars["grad_norm"] = math.sqrt(max(big, 0.0))
            if "noise_scale" in self.names:
                b_small = self.layout.per_replica_batch
                self.noise.update(small, big, b_small, self.layout.global_batch)
                scalars.update(noise_scale_b_simple=self.noise.b_simple,
                               noise_scale_trace_sigma=self.noise.trace,
                               noise_scale_grad_sq=self.noise.grad_sq,
                               signal_to_noise=self.noise.snr(
                                   self.layout.global_batch))
            if self.layer_noise and layer_sums is not None:
                for ema, small_l, big_l in zip(self.layer_noise.values(),
                                               *layer_sums):
                    ema.update(small_l / steps, big_l / steps,
                               self.layout.per_replica_batch,
                               self.layout.global_batch)
                scalars.update({f"noise_scale/{path}": ema.b_simple
                                for path, ema in self.layer_noise.items()})
            self._save_ema_state()
            if "grad_norm" in self.record:
                self.record["grad_norm"].append(
                    {"step": step, "grad_norm": scalars["grad_norm"]})
        if "trust_ratios" in self.names:
            ratios = {k: float(v) for k, v in
                      getattr(self.optimizer, "trust_ratios", {}).items()}
            if ratios:
                self.record["trust_ratios"].append({"step": step,
                                                    "per_layer": ratios})
                telemetry.histogram("train", step, "trust_ratios",
                                    np.array(list(ratios.values())))
                scalars.update({f"trust_ratio/{k}": v for k, v in ratios.items()})
        if scalars:
            telemetry.scalars("train", step, scalars)

    def at_eval(self, step, telemetry):
        if self.initial is None:
            return
        per_layer = {
            v.path: float(tf.norm(tf.cast(v.value - w0, tf.float32)))
            for v, w0 in zip(self.model.trainable_variables, self.initial)}
        total = math.sqrt(sum(d * d for d in per_layer.values()))
        self.record["weight_distance"].append(
            {"step": step, "global": total, "per_layer": per_layer})
        telemetry.scalars("train", step, dict(
            {"weight_distance/global": total},
            **{f"weight_distance/{k}": v for k, v in per_layer.items()}))

    def history_fields(self) -> dict:
        """Fields the loop adds to each results.json history record.

        The noise-scale trajectory (issue 19): B_simple and its parts at
        every evaluation, as the EMAs stand then; None where undefined
        (|G|^2 <= 0 early in training, or no update yet).
        """
        if "noise_scale" not in self.names:
            return {}
        fields = {"noise_scale_b_simple": _finite_or_none(self.noise.b_simple),
                  "noise_scale_grad_sq": _finite_or_none(self.noise.grad_sq),
                  "noise_scale_trace_sigma": _finite_or_none(self.noise.trace)}
        if self.layer_noise:
            fields["noise_scale_layers"] = self._layers_now()
        return fields

    def _layers_now(self):
        return {path: {"b_simple": _finite_or_none(ema.b_simple),
                       "grad_sq": _finite_or_none(ema.grad_sq),
                       "trace_sigma": _finite_or_none(ema.trace)}
                for path, ema in self.layer_noise.items()}

    def results(self):
        out = dict(self.record)
        if "noise_scale" in self.names:
            out["noise_scale"] = {"b_simple": self.noise.b_simple,
                                  "trace_sigma": self.noise.trace,
                                  "grad_norm_sq": self.noise.grad_sq,
                                  "b_small": self.layout.per_replica_batch,
                                  "b_big": self.layout.global_batch,
                                  "signal_power": self.noise.grad_sq,
                                  "noise_power": self.noise.trace
                                  / self.layout.global_batch,
                                  "signal_to_noise": self.noise.snr(
                                      self.layout.global_batch)}
            out["noise_scale_state"] = self.noise.state()
        if self.layer_noise:
            out["noise_scale_layers"] = self._layers_now()
            out["noise_scale_layers_state"] = {
                path: ema.state() for path, ema in self.layer_noise.items()}
        return out
