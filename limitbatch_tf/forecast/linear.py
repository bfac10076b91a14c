"""Synthetic least squares whose gradient noise scale is known in closed form.

The check of the noise-scale estimator and of the forecast (issue 19): a
workload where B_simple can be written down, so a measured value can be
compared with the truth rather than with another estimate.

Workload. Inputs x ~ N(0, I_d), targets y = w*.x + eps with eps ~ N(0,
sigma^2) independent of x, the model a linear map without bias, and the
loss the squared error l(w; x, y) = (w.x - y)^2 / 2 (made explicit: the
half makes the per-example gradient the residual times the input).

Closed form. Let e = w - w* and r = w.x - y = e.x - eps. The per-example
gradient is g = r x. With E[x x^T] = I and eps independent of x:

  G = E[g] = E[(e.x) x] - E[eps x] = e,                   so |G|^2 = |e|^2.

For the second moment, Isserlis' theorem for Gaussian x gives
E[(e.x)^2 x x^T] = |e|^2 I + 2 e e^T, and the cross term with eps vanishes:

  E[g g^T] = E[(e.x)^2 x x^T] + sigma^2 I = (|e|^2 + sigma^2) I + 2 e e^T,
  Sigma    = E[g g^T] - G G^T            = (|e|^2 + sigma^2) I + e e^T,
  tr(Sigma) = (d + 1) |e|^2 + d sigma^2,

  B_simple = tr(Sigma) / |G|^2 = d + 1 + d sigma^2 / |e|^2.

B_simple = tr(Sigma)/|G|^2 is the simple noise scale of McCandlish et al.
(2018), "An Empirical Model of Large-Batch Training", eq. 2.8. It grows
without bound as training approaches w* (the noise floor sigma^2 stays
while the signal |e|^2 vanishes), which is the growth over training the
noise-scale trajectory records.

Training here is online SGD in NumPy (a fresh sample every step, so the
population quantities above are exactly what the gradients estimate), with
the package's estimator (forecast/noise_scale.py) fed the same two gradient
sizes the training loop gives it: micro-batches of b examples and their
mean over the batch of B.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from limitbatch_tf.forecast.noise_scale import NoiseScaleEMA


@dataclasses.dataclass(frozen=True)
class LinearProblem:
    """y = w*.x + sigma * eps, x ~ N(0, I_d)."""

    w_star: np.ndarray
    sigma: float

    @property
    def dim(self) -> int:
        return int(self.w_star.shape[0])

    @classmethod
    def make(cls, dim: int, sigma: float, seed: int = 0) -> "LinearProblem":
        rng = np.random.default_rng(seed)
        return cls(rng.normal(size=dim), float(sigma))

    def sample(self, n: int, rng: np.random.Generator):
        """(x [n, d], y [n])."""
        x = rng.normal(size=(n, self.dim))
        return x, x @ self.w_star + self.sigma * rng.normal(size=n)

    def closed_form(self, w: np.ndarray) -> dict:
        """|G|^2, tr(Sigma) and B_simple at ``w`` (derivation: module doc)."""
        err = float(np.sum((np.asarray(w) - self.w_star) ** 2))
        trace = (self.dim + 1) * err + self.dim * self.sigma ** 2
        return {"grad_sq": err, "trace_sigma": trace,
                "b_simple": trace / err if err > 0 else float("inf")}


def per_example_gradients(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Gradients of (w.x - y)^2 / 2, one row per example."""
    return (x @ w - y)[:, None] * x


def measured_squares(problem: LinearProblem, w, batch: int, micro_batch: int,
                     rng) -> tuple:
    """One step's (mean |g_micro|^2 over micro-batches, |g_batch|^2).

    What train/steps.py returns per update step: the squared norm of each
    micro-batch's mean gradient, averaged, and that of the batch mean.
    """
    if batch % micro_batch or micro_batch >= batch:
        raise ValueError(f"micro_batch {micro_batch} must divide batch "
                         f"{batch} and be smaller")
    x, y = problem.sample(batch, rng)
    g = per_example_gradients(x, y, w)
    micro = g.reshape(batch // micro_batch, micro_batch, -1).mean(1)
    big = g.mean(0)
    return float(np.mean(np.sum(micro ** 2, 1))), float(big @ big), big


def train(problem: LinearProblem, *, batch: int, micro_batch: int,
          learning_rate: float, steps: int, eval_every: int = 10,
          decay: float = 0.95, seed: int = 0) -> list:
    """Online SGD from w = 0; history records as results.json holds them.

    Every ``eval_every`` steps a record has the step, the training loss
    (population value (|e|^2 + sigma^2) / 2), the estimator's
    noise_scale_* fields (train/probes.py's names) and the closed form at
    the current weights (closed_form_*), which the estimator should track.
    """
    rng = np.random.default_rng(seed)
    w = np.zeros(problem.dim)
    ema = NoiseScaleEMA(decay=decay)
    history = []
    for step in range(1, steps + 1):
        small, big, grad = measured_squares(problem, w, batch, micro_batch, rng)
        ema.update(small, big, micro_batch, batch)
        w = w - learning_rate * grad
        if step % eval_every == 0 or step == steps:
            truth = problem.closed_form(w)
            history.append({
                "step": step,
                "train_loss": 0.5 * (truth["grad_sq"] + problem.sigma ** 2),
                "noise_scale_b_simple": ema.b_simple,
                "noise_scale_grad_sq": ema.grad_sq,
                "noise_scale_trace_sigma": ema.trace,
                "closed_form_b_simple": truth["b_simple"],
                "closed_form_grad_sq": truth["grad_sq"],
                "closed_form_trace_sigma": truth["trace_sigma"]})
    return history
