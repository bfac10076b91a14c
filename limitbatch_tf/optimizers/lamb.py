"""LAMB: layer-wise adaptive moments, with the 2020 paper's bound-ratio."""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import base
from limitbatch_tf.optimizers import trust_ratio as tr


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class LAMB(base.LayerwiseOptimizer):
    """Layer-wise Adaptive Moments for Batch training (You et al., 2019).

    Per model variable ``w`` with gradient ``g`` at step ``t`` (LAMB paper,
    Algorithm 2; shared REFERENCE.md section 2):

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
        exclude_vectors: bool, exclude rank <= 1 variables from weight
            decay and adaptation. Defaults to True.
        exclude_from_weight_decay: list of regexes on variable paths.
            Defaults to None.
        exclude_from_adaptation: list of regexes on variable paths.
            Defaults to None.
        **kwargs: Keras base optimizer arguments (name, clipnorm, ...).

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
        self.weight_norm_clamp = tr.validate_interval(
            "weight_norm_clamp", weight_norm_clamp, lower_limit=0.0)
        self.trust_ratio_bounds = tr.validate_interval(
            "trust_ratio_bounds", trust_ratio_bounds, lower_limit=0.0)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        """Applies one LAMB step to ``variable`` (maths in float32)."""
        index, wd, adapt = self._settings(variable)
        lr = base.as_float32(learning_rate)
        g = base.as_float32(gradient)
        w = base.as_float32(variable)
        m_var = self._momentums[index]
        v_var = self._velocities[index]
        # m += (g - m) * (1 - beta) is the same recursion as in the paper,
        # written like keras.optimizers.Lamb so that parity is to the ulp.
        m = base.as_float32(m_var)
        v = base.as_float32(v_var)
        m = m + (g - m) * (1.0 - self.beta_1)
        v = v + (tf.square(g) - v) * (1.0 - self.beta_2)
        self.assign(m_var, m)
        self.assign(v_var, v)
        if self.bias_correction:
            # 1 - beta ** t in float64: in float32, 1 - 0.999 ** 5 keeps
            # only ~4 significant digits (cancellation), a 1e-5 relative
            # error on the step of every variable excluded from adaptation.
            step = tf.cast(self.iterations + 1, tf.float64)
            m = m / tf.cast(1.0 - tf.pow(tf.constant(self.beta_1, tf.float64),
                                         step), tf.float32)
            v = v / tf.cast(1.0 - tf.pow(tf.constant(self.beta_2, tf.float64),
                                         step), tf.float32)
        u = m / (tf.sqrt(v) + self.epsilon)
        if wd:
            u = u + wd * w
        if adapt:
            w_norm = tr.clip(tr.l2_norm(w), self.weight_norm_clamp)
            u_norm = tr.l2_norm(u)
            ratio = tr.safe_ratio(
                w_norm, u_norm, tf.logical_and(w_norm > 0, u_norm > 0),
                self.trust_ratio_bounds)
            self._record_trust_ratio(index, ratio)
            u = ratio * u
        self.assign_sub(variable, lr * u)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "bias_correction": self.bias_correction,
            "weight_norm_clamp": base.pair_config(self.weight_norm_clamp),
            "trust_ratio_bounds": base.pair_config(self.trust_ratio_bounds),
        })
        return config
