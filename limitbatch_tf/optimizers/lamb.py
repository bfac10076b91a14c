"""LAMB: layer-wise adaptive moments, with the 2020 paper's bound-ratio."""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import masked
from limitbatch_tf.optimizers import _numerics as numerics


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class LAMB(masked.MaskedOptimizer):
    """Layer-wise Adaptive Moments for Batch training (You et al., 2019).

    Per model variable ``w`` with gradient ``g`` at step ``t`` (LAMB paper,
    Algorithm 2; docs/references.md R5):

    ```python
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    m_hat = m / (1 - beta_1 ** t)          # bias_correction=False: m_hat = m
    v_hat = v / (1 - beta_2 ** t)          #                        v_hat = v
    u = m_hat / (sqrt(v_hat) + epsilon) + wd * w       # coupled L2
    r = clip(phi(||w||) / ||u||, r_min, r_max)         # 1 if a norm is 0
    w = w - lr * r * u
    ```

    ``phi(z) = clip(z, lower, upper)`` is the paper's weight-norm clamp
    (identity by default) and ``[r_min, r_max]`` the "bound-ratio" of You et
    al. 2020, Table 3 ("Adam + layer-wise + bound"). Excluded variables use
    ``r = 1`` and/or ``wd = 0``; by default variables of rank <= 1.

    With ``weight_decay=0``, ``epsilon=1e-7``, ``exclude_vectors=False`` and
    no clamps this is step-for-step `keras.optimizers.Lamb` (tested). Keras's
    Lamb applies its ``weight_decay`` decoupled, outside the trust ratio;
    here it is inside ``u`` as in the paper.

    Args:
        learning_rate: float, `LearningRateSchedule` or callable. Defaults
            to 0.001.
        beta_1: float in [0, 1), first-moment decay. Defaults to 0.9.
        beta_2: float in [0, 1), second-moment decay. Defaults to 0.999.
        epsilon: float >= 0 added to ``sqrt(v_hat)``; 0 stays 0. Defaults
            to 1e-6 (LAMB paper; Keras's Lamb uses 1e-7).
        weight_decay: float >= 0, coupled L2 coefficient. Defaults to 0.0.
        bias_correction: bool, divide the moments by ``1 - beta ** t``.
            Defaults to True.
        weight_norm_clamp: optional ``(lower, upper)`` for ``phi``, lower
            >= 0; either end may be None. Defaults to None (identity).
        trust_ratio_bounds: optional ``(r_min, r_max)``; either end may be
            None. Defaults to None (unbounded).
        {{mask_args}}

    References:
        - [You et al., 2019](https://arxiv.org/abs/1904.00962), Algorithm 2.
        - [You et al., 2020](https://arxiv.org/abs/2006.08517), Table 3.
        - [Luo et al., 2019](https://arxiv.org/abs/1902.09843) (AdaBound).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, weight_decay=0.0, bias_correction=True,
                 weight_norm_clamp=None, trust_ratio_bounds=None,
                 exclude_vectors=True, exclude_from_weight_decay=None,
                 exclude_from_adaptation=None, name=None, **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay,
            exclude_vectors=exclude_vectors,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_adaptation=exclude_from_adaptation, name=name,
            **kwargs)
        for arg_name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not isinstance(beta, (int, float)) or not 0 <= beta < 1:
                raise ValueError(
                    f"`{arg_name}` must be a float in [0, 1); received {beta!r}")
        if not isinstance(epsilon, (int, float)) or not epsilon >= 0:
            raise ValueError(
                f"`epsilon` must be a float >= 0; received {epsilon!r}")
        if not isinstance(bias_correction, bool):
            raise ValueError(
                f"`bias_correction` must be a bool; received {bias_correction!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.bias_correction = bias_correction
        self.weight_norm_clamp = numerics.validate_interval(
            "weight_norm_clamp", weight_norm_clamp, lower_limit=0.0)
        self.trust_ratio_bounds = numerics.validate_interval(
            "trust_ratio_bounds", trust_ratio_bounds, lower_limit=0.0)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        """Applies one LAMB step to ``variable``.

        Moments are updated in the slot dtype (the variable's), the
        direction, norms and ratio are computed in float32.

        The bias corrections are folded into scalars,
        ``m_hat / (sqrt(v_hat) + eps) = s * m / (sqrt(v) + eps * sqrt(bc2))``
        with ``s = sqrt(bc2) / bc1`` and ``bc = 1 - beta ** t`` (float64:
        in float32, ``1 - 0.999 ** 5`` keeps ~4 digits), which saves two
        full-size passes. (TF's fused ResourceApplyAdam is not used: it
        computes ``1 - beta_2`` in float32, i.e. uses beta_2 = 0.99900001,
        a 1.3e-5 relative error in the second-moment rate.)
        """
        index, wd, adapt = self._settings(variable)
        lr = numerics.as_float32(learning_rate)
        m_var, v_var = self._momentums[index], self._velocities[index]
        scale, epsilon = self._bias_correction()
        g = tf.cast(numerics.dense(gradient), m_var.dtype)
        # m -= (1 - beta_1) * (m - g), v likewise: one pass fewer each than
        # assign_add((g - m) * (1 - beta_1)); 1 - beta stays exact (Python).
        numerics.apply_gradient_descent(m_var, 1.0 - self.beta_1, m_var - g)
        numerics.apply_gradient_descent(
            v_var, 1.0 - self.beta_2, v_var - tf.square(g))
        q = numerics.as_float32(m_var) / (
            tf.sqrt(numerics.as_float32(v_var)) + epsilon)
        if wd:  # u = scale * q + wd * w
            direction = scale * q + wd * numerics.as_float32(variable)
            u_norm, coefficient = numerics.l2_norm(direction), 1.0
        else:  # u = scale * q; apply scale as a scalar
            direction = q
            u_norm, coefficient = scale * numerics.l2_norm(q), scale
        if adapt:
            w_norm = numerics.clip(numerics.l2_norm(variable), self.weight_norm_clamp)
            ratio = numerics.safe_ratio(
                w_norm, u_norm, tf.logical_and(w_norm > 0, u_norm > 0),
                self.trust_ratio_bounds)
            self._record_trust_ratio(index, ratio)
            coefficient = coefficient * ratio
        numerics.apply_gradient_descent(variable, lr * coefficient, direction)

    def _bias_correction(self):
        """(s, eps_eff) as float32 scalars; (1, eps) without correction."""
        if not self.bias_correction:
            return tf.constant(1.0), tf.constant(self.epsilon)
        step = tf.cast(self.iterations + 1, tf.float64)
        bc1 = 1.0 - tf.pow(tf.constant(self.beta_1, tf.float64), step)
        bc2 = 1.0 - tf.pow(tf.constant(self.beta_2, tf.float64), step)
        root_bc2 = tf.sqrt(bc2)
        return (tf.cast(root_bc2 / bc1, tf.float32),
                tf.cast(self.epsilon * root_bc2, tf.float32))

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "bias_correction": self.bias_correction,
            "weight_norm_clamp": masked.pair_config(self.weight_norm_clamp),
            "trust_ratio_bounds": masked.pair_config(self.trust_ratio_bounds),
        })
        return config


LAMB.__doc__ = LAMB.__doc__.replace("{{mask_args}}", masked.MASK_ARGS)
