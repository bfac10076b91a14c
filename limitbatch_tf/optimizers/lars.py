"""LARS: layer-wise adaptive rate scaling, MLPerf ResNet-50 form."""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import base
from limitbatch_tf.optimizers import trust_ratio as tr


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class LARS(base.LayerwiseOptimizer):
    """Layer-wise Adaptive Rate Scaling (You, Gitman & Ginsburg, 2017).

    Per model variable ``w`` with gradient ``g`` (MLPerf TF2 ResNet-50 form,
    shared REFERENCE.md section 2; You et al. 2020, appendix 6.3):

    ```python
    # trust ratio, 1 when ||w|| == 0 or ||g|| == 0
    r = eeta * ||w|| / (||g|| + wd * ||w|| + epsilon)
    d = g + wd * w                      # coupled L2
    v = momentum * v + lr * r * d       # lr inside the buffer (default)
    w = w - v                           # nesterov: w -= momentum * v + lr * r * d
    ```

    With ``decayed_grad_norm=True`` the denominator is ``||g + wd * w|| +
    epsilon`` and the ratio is 1 when ``||w||`` or ``||g + wd * w||`` is 0
    (TF Model Garden form). With ``lr_after_momentum=True`` the learning
    rate multiplies the buffer instead of entering it (differs from the
    default only when lr changes between steps):

    ```python
    v = momentum * v + r * d
    w = w - lr * v                      # nesterov: w -= lr * (momentum * v + r * d)
    ```

    Variables excluded from adaptation use ``r = 1``; variables excluded
    from weight decay use ``wd = 0``. By default every variable of rank <= 1
    (biases, BatchNorm gamma/beta) is excluded from both.

    Args:
        learning_rate: float, `LearningRateSchedule` or callable. With
            ``eeta=1e-3`` a layer moves by about ``lr * 1e-3 * ||w||`` per
            step, hence the large default. Defaults to 1.0.
        momentum: float in [0, 1). Defaults to 0.9.
        nesterov: bool, Nesterov momentum. Defaults to False.
        eeta: float > 0, trust coefficient. Defaults to 1e-3.
        epsilon: float >= 0 added to the denominator; 0 stays 0. Defaults
            to 0.0.
        weight_decay: float >= 0, coupled L2 coefficient. Defaults to 0.0.
        decayed_grad_norm: bool, use ``||g + wd * w||`` as the denominator.
            Defaults to False (MLPerf ``||g|| + wd * ||w||``).
        lr_after_momentum: bool, ``w -= lr * v`` with an lr-free buffer.
            Defaults to False (MLPerf, lr inside the buffer).
        exclude_vectors: bool, exclude rank <= 1 variables from weight
            decay and adaptation. Defaults to True.
        exclude_from_weight_decay: list of regexes on variable paths.
            Defaults to None.
        exclude_from_adaptation: list of regexes on variable paths.
            Defaults to None.
        **kwargs: Keras base optimizer arguments (name, clipnorm, ...).

    References:
        - [You et al., 2017](https://arxiv.org/abs/1708.03888), Algorithm 1.
        - MLPerf training v0.7 ResNet-50 TF2, ``lars_optimizer.py``.
        - [You et al., 2020](https://arxiv.org/abs/2006.08517), Table 3.
    """

    def __init__(self, learning_rate=1.0, momentum=0.9, nesterov=False,
                 eeta=1e-3, epsilon=0.0, weight_decay=0.0,
                 decayed_grad_norm=False, lr_after_momentum=False,
                 exclude_vectors=True, exclude_from_weight_decay=None,
                 exclude_from_adaptation=None, name=None, **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay,
            exclude_vectors=exclude_vectors,
            exclude_from_weight_decay=exclude_from_weight_decay,
            exclude_from_adaptation=exclude_from_adaptation, name=name,
            **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(
                f"`momentum` must be a float in [0, 1); received {momentum!r}")
        if not isinstance(eeta, (int, float)) or not eeta > 0:
            raise ValueError(f"`eeta` must be a float > 0; received {eeta!r}")
        if not isinstance(epsilon, (int, float)) or not epsilon >= 0:
            raise ValueError(
                f"`epsilon` must be a float >= 0; received {epsilon!r}")
        for flag_name, flag in (("nesterov", nesterov),
                                ("decayed_grad_norm", decayed_grad_norm),
                                ("lr_after_momentum", lr_after_momentum)):
            if not isinstance(flag, bool):
                raise ValueError(
                    f"`{flag_name}` must be a bool; received {flag!r}")
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.eeta = float(eeta)
        self.epsilon = float(epsilon)  # never `epsilon or default`: 0 stays 0
        self.decayed_grad_norm = decayed_grad_norm
        self.lr_after_momentum = lr_after_momentum

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = []
        if self.momentum != 0:
            self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        """Applies one LARS step to ``variable`` (maths in float32)."""
        index, wd, adapt = self._settings(variable)
        lr = base.as_float32(learning_rate)
        g = base.as_float32(gradient)
        w = base.as_float32(variable)
        d = g + wd * w if wd else g
        if adapt:
            w_norm = tr.l2_norm(w)
            if self.decayed_grad_norm:
                d_norm = tr.l2_norm(d)
                denominator = d_norm + self.epsilon
                positive = tf.logical_and(w_norm > 0, d_norm > 0)
            else:
                g_norm = tr.l2_norm(g)
                denominator = g_norm + wd * w_norm + self.epsilon
                positive = tf.logical_and(w_norm > 0, g_norm > 0)
            ratio = tr.safe_ratio(self.eeta * w_norm, denominator, positive)
            self._record_trust_ratio(index, ratio)
            d = ratio * d
        if self.momentum == 0:
            self.assign_sub(variable, lr * d)
            return
        mu = self.momentum
        v = self._velocities[index]
        step = d if self.lr_after_momentum else lr * d
        v_new = mu * base.as_float32(v) + step
        self.assign(v, v_new)
        update = mu * v_new + step if self.nesterov else v_new
        if self.lr_after_momentum:
            update = lr * update
        self.assign_sub(variable, update)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "eeta": self.eeta,
            "epsilon": self.epsilon,
            "decayed_grad_norm": self.decayed_grad_norm,
            "lr_after_momentum": self.lr_after_momentum,
        })
        return config
