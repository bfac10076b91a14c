"""The gradient noise scale's two-size estimator (no TensorFlow import).

Used by the training loop's ``noise_scale`` probe (train/probes.py) and by
the forecast's synthetic workload (forecast/linear.py).
"""
from __future__ import annotations


class NoiseScaleEMA:
    """Bias-corrected EMAs of the unbiased |G|^2 and tr(Sigma) estimates.

    McCandlish et al. (2018), "An Empirical Model of Large-Batch Training",
    Appendix A.1: from the squared norms of gradients over a small batch
    (B_small) and a big one (B_big) of the same parameters,

    |G|^2  ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
    tr(S)  ~ (|G_small|^2 - |G_big|^2) / (1/B_small - 1/B_big)

    are unbiased; each is averaged by an EMA (numerator and denominator
    apart, as the paper advises, since their ratio is biased) and divided
    by the EMA's total weight 1 - decay^t, so the first readings are not
    pulled towards the zero the EMA starts from (the correction of Adam,
    Kingma & Ba 2015, section 3). B_simple = tr(S) / |G|^2.
    """

    def __init__(self, decay: float = 0.95, state=None):
        self.decay = decay
        self.load_state(state or (0.0, 0.0, 0.0))

    def load_state(self, state):
        """Continues from a ``state()`` (a resumed run)."""
        self._grad_sq, self._trace, self.weight = (float(x) for x in state)

    def update(self, small_sq, big_sq, b_small, b_big):
        g2 = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
        tr = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
        d = self.decay
        self._grad_sq = d * self._grad_sq + (1 - d) * g2
        self._trace = d * self._trace + (1 - d) * tr
        self.weight = d * self.weight + (1 - d)

    @property
    def grad_sq(self):
        """|G|^2, bias-corrected (nan before the first update)."""
        return self._grad_sq / self.weight if self.weight > 0 else float("nan")

    @property
    def trace(self):
        """tr(Sigma), bias-corrected (nan before the first update)."""
        return self._trace / self.weight if self.weight > 0 else float("nan")

    @property
    def b_simple(self):
        return self.trace / self.grad_sq if self.grad_sq > 0 else float("nan")

    def snr(self, batch_size):
        """Appendix 6.1: signal power |G|^2 over noise power tr(Sigma)/B."""
        return batch_size / self.b_simple if self.trace > 0 else float("nan")

    def state(self):
        return [self._grad_sq, self._trace, self.weight]
