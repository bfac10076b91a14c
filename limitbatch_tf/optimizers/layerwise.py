"""Layer-wise trust ratio around any lr-multiplicative Keras optimizer."""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import masked
from limitbatch_tf.optimizers import _numerics as numerics
from limitbatch_tf.optimizers import wrapper


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class LayerwiseTrustRatio(wrapper.InnerOptimizerWrapper):
    """Adds the layer-wise trust ratio (and coupled L2) to an optimizer.

    You et al. 2020, Table 3: "+ layer-wise" and "+ layer-wise and
    bound-ratio" applied to SGD, AdaGrad, RMSprop and Adam. Per variable,
    with ``clip`` the optional ``weight_norm_clamp`` (phi) and
    ``trust_ratio_bounds``, and the ratio 1 when a norm is 0:

    ```python
    ratio(x) = clip(eeta * clip(||w||, *weight_norm_clamp) / ||x||,
                    *trust_ratio_bounds)
    ```

    The inner optimizer always runs at learning rate 1 and the wrapper
    multiplies its step by ``lr``. Where the ratio goes is defined by where
    a learning rate multiplies in the inner's own update rule:

    * SGD (plain, momentum, Nesterov): Keras SGD multiplies lr into the
      gradient before its velocity, so the ratio scales the (decayed)
      gradient that enters the velocity, as LARS does (the paper's footnote
      2: the trust ratio of SGD is ``||w|| / ||g||``):

      ```python
      d = g + wd * w
      d = ratio(d) * d
      w = w - lr * SGD_step_at_unit_lr(d)   # v = mu * v + d; w -= lr * v
      ```

      This is LARS with ``decayed_grad_norm=True, lr_after_momentum=True``
      (equal to the default MLPerf LARS when wd = 0 and lr is constant).

    * Adaptive optimizers (Adam, Adagrad, RMSprop, Adadelta, Nadam, Adamax,
      Lion): lr multiplies the preconditioned step, so the ratio scales that
      step, as LAMB does:

      ```python
      u = inner_step_at_unit_lr(g) + wd * w
      w = w - lr * ratio(u) * u
      ```

      With Adam, ``eeta=1`` and the same bounds this is LAMB, except that
      Keras's Adam adds epsilon to ``sqrt(v)`` before bias correction
      (``eps_LAMB = eps_Adam / sqrt(1 - beta_2 ** t)``).

    Variables excluded from adaptation take the plain inner step (ratio 1);
    excluded from weight decay, ``wd = 0``. RMSprop with momentum, like SGD,
    ends up in "lr after momentum" form.

    Args:
        inner_optimizer: unbuilt Keras optimizer of a type in ``wrapper.SUPPORTED``;
            its learning rate (float or schedule) is used, and it must not
            have clipping, weight decay, EMA, accumulation or loss scaling.
        eeta: float > 0, trust coefficient. Defaults to 1.0 (use ~1e-3 with
            SGD, as LARS does).
        weight_norm_clamp: optional ``(lower, upper)`` clamp of ``||w||``,
            lower >= 0, either end None. Defaults to None.
        trust_ratio_bounds: optional ``(r_min, r_max)``, either end None.
            Defaults to None.
        weight_decay: float >= 0, coupled L2 coefficient. Defaults to 0.0.
        {{mask_args}}

    References:
        - [You et al., 2020](https://arxiv.org/abs/2006.08517), Table 3.
        - [You et al., 2019](https://arxiv.org/abs/1904.00962), Algorithm 2.
    """

    def __init__(self, inner_optimizer, eeta=1.0, weight_norm_clamp=None,
                 trust_ratio_bounds=None, weight_decay=0.0,
                 exclude_vectors=True, exclude_from_weight_decay=None,
                 exclude_from_adaptation=None, name=None, **kwargs):
        super().__init__(
            inner_optimizer, weight_decay=weight_decay, exclude_vectors=exclude_vectors,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_adaptation=exclude_from_adaptation, name=name,
            **kwargs)
        if not isinstance(eeta, (int, float)) or not eeta > 0:
            raise ValueError(f"`eeta` must be a float > 0; received {eeta!r}")
        self.eeta = float(eeta)
        self.weight_norm_clamp = numerics.validate_interval(
            "weight_norm_clamp", weight_norm_clamp, lower_limit=0.0)
        self.trust_ratio_bounds = numerics.validate_interval(
            "trust_ratio_bounds", trust_ratio_bounds, lower_limit=0.0)
        self._capture = wrapper._IncrementCapture(inner_optimizer)

    @property
    def ratio_placement(self):
        """"gradient" (ratio before the inner's state: SGD) or "update"."""
        if type(self.inner_optimizer) is keras.optimizers.SGD:
            return "gradient"
        return "update"

    def _ratio(self, index, w, x):
        numerator = self.eeta * numerics.clip(numerics.l2_norm(w), self.weight_norm_clamp)
        x_norm = numerics.l2_norm(x)
        ratio = numerics.safe_ratio(
            numerator, x_norm, tf.logical_and(numerator > 0, x_norm > 0),
            self.trust_ratio_bounds)
        self._record_trust_ratio(index, ratio)
        return ratio

    def update_step(self, gradient, variable, learning_rate):
        """Runs the inner step at unit lr, scales it, applies ``lr``."""
        index, wd, adapt = self._settings(variable)
        lr = numerics.as_float32(learning_rate)
        w = numerics.as_float32(variable)
        if self.ratio_placement == "gradient":
            d = numerics.as_float32(gradient)
            if wd:
                d = d + wd * w
            if adapt:
                d = self._ratio(index, w, d) * d
            increment = self._capture.unit_lr_increment(d, variable)
            numerics.apply_gradient_descent(variable, -lr, increment)
        else:
            u = -self._capture.unit_lr_increment(gradient, variable)
            if wd:
                u = u + wd * w
            scaled_lr = lr * self._ratio(index, w, u) if adapt else lr
            numerics.apply_gradient_descent(variable, scaled_lr, u)

    def get_config(self):
        config = super().get_config()
        config.update({
            "eeta": self.eeta,
            "weight_norm_clamp": masked.pair_config(self.weight_norm_clamp),
            "trust_ratio_bounds": masked.pair_config(self.trust_ratio_bounds),
        })
        return config


LayerwiseTrustRatio.__doc__ = LayerwiseTrustRatio.__doc__.replace("{{mask_args}}", masked.MASK_ARGS)
