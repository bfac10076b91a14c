"""LARS: layer-wise adaptive rate scaling, MLPerf ResNet-50 form."""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import masked
from limitbatch_tf.optimizers import _numerics as numerics


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class LARS(masked.MaskedOptimizer):
    """Layer-wise Adaptive Rate Scaling (You, Gitman & Ginsburg, 2017).

    Per model variable ``w`` with gradient ``g`` (MLPerf TF2 ResNet-50 form,
    docs/references.md R3; You et al. 2020, appendix 6.3):

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

    With ``clip=True`` (NVIDIA apex's LARC "clip" mode,
    ``apex/parallel/LARC.py``) the ratio is clipped against the current
    learning rate before it scales the step:

    ```python
    # apex: adaptive_lr = trust_coefficient * ||w|| / (||g|| + wd * ||w|| + eps)
    #       adaptive_lr = min(adaptive_lr / lr, 1)     # clip mode
    #       grad = (g + wd * w) * adaptive_lr; SGD(momentum) step at lr
    r = min(r / lr, 1)                  # where both norms > 0 and lr > 0
    ```

    so the per-layer rate ``lr * r`` is ``min(eeta * ||w|| / (...), lr)``:
    the trust ratio itself becomes the layer's learning rate, never above
    the global one (apex: "the learning rate is set to
    ``min(optimizer_lr, local_lr)``"). apex's LARC wraps torch SGD, whose
    momentum buffer is lr-free: that is ``lr_after_momentum=True`` here; the
    default (lr inside the buffer) differs only when lr changes between
    steps. Where a norm is 0 the ratio stays 1, unclipped, as apex leaves
    such a gradient unscaled (apex also skips the weight decay of a
    variable whose gradient is exactly 0; here ``d = g + wd * w`` as in
    every LARS step). At ``lr == 0`` the clipped ratio is 1, as
    ``min(r / 0, 1)`` is in apex. ``trust_ratios`` telemetry records the
    clipped ratio (the factor that multiplies lr).

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
        clip: bool, apex LARC's clip mode: per-layer rate
            ``min(trust ratio, lr)`` instead of ``trust ratio * lr``.
            Defaults to False (MLPerf LARS scales).
        {{mask_args}}

    References:
        - [You et al., 2017](https://arxiv.org/abs/1708.03888), Algorithm 1.
        - MLPerf training v0.7 ResNet-50 TF2, ``lars_optimizer.py``.
        - [You et al., 2020](https://arxiv.org/abs/2006.08517), Table 3.
        - NVIDIA apex, ``apex/parallel/LARC.py`` (``LARC.step``, clip mode).
    """

    def __init__(self, learning_rate=1.0, momentum=0.9, nesterov=False,
                 eeta=1e-3, epsilon=0.0, weight_decay=0.0,
                 decayed_grad_norm=False, lr_after_momentum=False,
                 clip=False, exclude_vectors=True, exclude_from_weight_decay=None,
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
                                ("lr_after_momentum", lr_after_momentum),
                                ("clip", clip)):
            if not isinstance(flag, bool):
                raise ValueError(
                    f"`{flag_name}` must be a bool; received {flag!r}")
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.eeta = float(eeta)
        self.epsilon = float(epsilon)  # never `epsilon or default`: 0 stays 0
        self.decayed_grad_norm = decayed_grad_norm
        self.lr_after_momentum = lr_after_momentum
        self.clip = clip

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = []
        if self.momentum != 0:
            self._velocities = self.add_optimizer_variables(var_list, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        """Applies one LARS step to ``variable``.

        Norms and the ratio are float32; the recursion runs in one fused
        TF kernel in the variable's dtype (see ``_numerics``). In the default
        form the velocity slot holds Keras SGD's ``-v``
        (ResourceApplyKerasMomentum), in the lr-after form ``+v``.
        """
        index, wd, adapt = self._settings(variable)
        lr = numerics.as_float32(learning_rate)
        g = tf.cast(numerics.dense(gradient), variable.dtype)
        d = g + wd * tf.convert_to_tensor(variable) if wd else g
        ratio = None
        if adapt:
            w_norm = numerics.l2_norm(variable)
            if self.decayed_grad_norm:
                d_norm = numerics.l2_norm(d)
                denominator = d_norm + self.epsilon
                positive = tf.logical_and(w_norm > 0, d_norm > 0)
            else:
                g_norm = numerics.l2_norm(g)
                denominator = g_norm + wd * w_norm + self.epsilon
                positive = tf.logical_and(w_norm > 0, g_norm > 0)
            ratio = numerics.safe_ratio(self.eeta * w_norm, denominator, positive)
            if self.clip:
                # apex LARC: min(adaptive_lr / lr, 1); 1 at lr == 0
                # (r / 0 = inf there) and where a norm is 0 (unscaled).
                clipped = tf.where(
                    lr > 0, tf.minimum(tf.math.divide_no_nan(ratio, lr), 1.0),
                    tf.ones_like(ratio))
                ratio = tf.where(positive, clipped, ratio)
            self._record_trust_ratio(index, ratio)
        scaled_lr = lr if ratio is None else lr * ratio
        if self.momentum == 0:
            numerics.apply_gradient_descent(variable, scaled_lr, d)
        elif self.lr_after_momentum:
            grad = d if ratio is None else tf.cast(ratio, d.dtype) * d
            numerics.apply_momentum(variable, self._velocities[index], lr, grad,
                                 self.momentum, self.nesterov)
        else:
            numerics.apply_keras_momentum(variable, self._velocities[index],
                                       scaled_lr, d, self.momentum,
                                       self.nesterov)

    def get_config(self):
        config = super().get_config()
        config.update({
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "eeta": self.eeta,
            "epsilon": self.epsilon,
            "decayed_grad_norm": self.decayed_grad_norm,
            "lr_after_momentum": self.lr_after_momentum,
            "clip": self.clip,
        })
        return config


LARS.__doc__ = LARS.__doc__.replace("{{mask_args}}", masked.MASK_ARGS)
