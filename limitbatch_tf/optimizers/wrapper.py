"""Running a Keras optimizer's update rule inside another optimizer.

``InnerOptimizerWrapper`` is the base of ``LayerwiseTrustRatio`` and
``CoupledWeightDecay``. The wrapper is what Keras sees (``apply``, clipping,
accumulation, EMA, loss scaling, tf.distribute all happen on it); for each
variable it calls the inner optimizer's ``update_step`` directly. Hence:

* the inner optimizer must not do anything in its own ``apply`` that would
  be skipped: no clipnorm/clipvalue/global_clipnorm, weight_decay, EMA,
  gradient accumulation or loss scaling on it (set those on the wrapper);
* its iteration counter (Adam's bias correction) is advanced by the wrapper
  once per real update step, and per-step hooks some optimizers keep in
  ``_backend_update_step`` (Nadam's ``u_product``) are run once per step;
* its learning rate (float or schedule) becomes the wrapper's, read once at
  construction; afterwards set ``wrapper.learning_rate``.

Only optimizers whose learning rate is a pure multiplier of their update
(``w -= lr * D`` with ``D`` and all state independent of ``lr``) are
accepted; see ``SUPPORTED``.
"""
import keras
import tensorflow as tf

from limitbatch_tf.optimizers import _numerics as numerics
from limitbatch_tf.optimizers import masked

# Keras optimizers whose update is ``lr * D(g, state)`` with lr-free state
# when run at unit learning rate. SGD and RMSprop keep lr inside their
# momentum buffer; at unit lr that buffer becomes lr-free and the wrapper
# multiplies by lr afterwards ("lr after momentum" form).
SUPPORTED = (
    keras.optimizers.SGD, keras.optimizers.Adam,
    keras.optimizers.Adagrad, keras.optimizers.Adadelta,
    keras.optimizers.RMSprop, keras.optimizers.Nadam,
    keras.optimizers.Adamax, keras.optimizers.Lion,
)
# Refused, by the maths: Ftrl (closed-form proximal step, lr inside a
# nonlinear expression), Adafactor (lr = min(lr, 1/sqrt(t)), relative step),
# ScheduleFreeAdamW (lr weights its averaging state), Muon (shape-dependent
# lr adjustment and an internal AdamW), Lamb/LARS/LAMB (already layer-wise),
# LossScaleOptimizer/MultiOptimizer and other wrappers (wrap the wrapper).
# AdamW is Adam plus decoupled decay, which the wrapper replaces: use Adam.

_UNSUPPORTED_INNER_SETTINGS = (
    "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
    "gradient_accumulation_steps", "loss_scale_factor")


def check_inner(owner, inner):
    """Raises ValueError unless ``inner_optimizer`` can be wrapped by ``owner``."""
    if not isinstance(inner, keras.optimizers.Optimizer):
        raise ValueError(
            f"{owner}: `inner_optimizer` must be a keras.optimizers.Optimizer; "
            f"received {inner!r}")
    if type(inner) not in SUPPORTED:
        names = ", ".join(c.__name__ for c in SUPPORTED)
        raise ValueError(
            f"{owner}: cannot wrap {type(inner).__name__}; supported are "
            f"optimizers whose learning rate purely multiplies the update: "
            f"{names}")
    if inner.built:
        raise ValueError(f"{owner}: `inner_optimizer` must not be built yet")
    if getattr(inner, "_limitbatch_wrapped", False):
        raise ValueError(f"{owner}: `inner_optimizer` is already wrapped by another "
                         f"optimizer; create a fresh one")
    for setting in _UNSUPPORTED_INNER_SETTINGS:
        if getattr(inner, setting, None):
            raise ValueError(
                f"{owner}: `inner_optimizer.{setting}` must be unset (got "
                f"{getattr(inner, setting)!r}); set it on the wrapper instead")
    if inner.use_ema:
        raise ValueError(
            f"{owner}: `inner_optimizer.use_ema` must be False; set it on the wrapper")


class _IncrementCapture:
    """Records the inner optimizer's writes to one model variable.

    Installed as the inner's ``assign``/``assign_add``/``assign_sub``: writes
    to the current target variable are accumulated as an increment
    (``w_new = w + increment``) instead of being applied; writes to anything
    else (the inner's slots) pass through. Capturing instead of applying and
    diffing keeps the increment exact even for bfloat16 variables, where
    ``w - (w - delta)`` would round a small delta away.
    """

    def __init__(self, optimizer):
        self._optimizer = optimizer
        self._target = None
        self._increment = None
        for name in ("assign", "assign_add", "assign_sub"):
            setattr(optimizer, name, getattr(self, name))

    def assign(self, variable, value):
        if variable is self._target:
            self._increment = (numerics.as_float32(value)
                               - numerics.as_float32(self._target))
        else:
            type(self._optimizer).assign(self._optimizer, variable, value)

    def assign_add(self, variable, value):
        if variable is self._target:
            self._add(numerics.as_float32(value))
        else:
            type(self._optimizer).assign_add(self._optimizer, variable, value)

    def assign_sub(self, variable, value):
        if variable is self._target:
            self._add(-numerics.as_float32(value))
        else:
            type(self._optimizer).assign_sub(self._optimizer, variable, value)

    def _add(self, value):
        self._increment = (value if self._increment is None
                           else self._increment + value)

    def unit_lr_increment(self, gradient, variable):
        """Float32 increment the inner's update_step makes at lr = 1."""
        self._target, self._increment = variable, None
        try:
            self._optimizer.update_step(
                gradient, variable, tf.constant(1.0, tf.float32))
            increment = self._increment
        finally:
            self._target, self._increment = None, None
        if increment is None:
            return tf.zeros(variable.shape, tf.float32)
        return increment


class InnerOptimizerWrapper(masked.MaskedOptimizer):
    """Base for optimizers that run ``inner_optimizer``'s update rule per variable.

    Args:
        inner_optimizer: an unbuilt optimizer of a type in ``SUPPORTED``; the wrapper
            takes ownership of it (do not use it on its own afterwards).
        **kwargs: ``MaskedOptimizer`` and Keras base arguments, except
            ``learning_rate``, which is taken from ``inner_optimizer``.
    """

    def __init__(self, inner_optimizer, **kwargs):
        check_inner(type(self).__name__, inner_optimizer)
        if "learning_rate" in kwargs:
            raise ValueError(
                f"{type(self).__name__}: the learning rate is the inner "
                f"optimizer's; set it there, not on the wrapper")
        # inner_optimizer._learning_rate is the schedule/callable/Variable itself;
        # the public property would evaluate a schedule.
        learning_rate = inner_optimizer._learning_rate
        if isinstance(learning_rate, keras.Variable):
            learning_rate = float(learning_rate.numpy())
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.inner_optimizer = inner_optimizer
        inner_optimizer._limitbatch_wrapped = True
        self._inner_has_step_hook = (
            type(inner_optimizer)._backend_update_step
            is not keras.optimizers.Optimizer._backend_update_step)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.inner_optimizer.build(var_list)

    @property
    def variables(self):
        # Like keras.optimizers.LossScaleOptimizer: the inner's slots are
        # saved and restored with the wrapper.
        return self._variables + self.inner_optimizer.variables

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Runs once per real update step (after accumulation), in replica
        # context, around the per-variable update_step calls.
        if self._inner_has_step_hook:
            # E.g. Nadam's u_product; no variables, so no update_step call.
            self.inner_optimizer._backend_update_step([], [], learning_rate)
        super()._backend_update_step(grads, trainable_variables, learning_rate)
        self.inner_optimizer._iterations.assign_add(1)

    def get_config(self):
        config = super().get_config()
        inner_config = keras.optimizers.serialize(self.inner_optimizer)
        # The wrapper's learning rate is authoritative (it may have been set
        # after construction); store it where from_config will read it.
        inner_config["config"]["learning_rate"] = config.pop("learning_rate")
        config["inner_optimizer"] = inner_config
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        # "inner": the key before it took Keras's name (LossScaleOptimizer's)
        serialized = config.pop("inner_optimizer", None) or config.pop("inner")
        inner_optimizer = keras.optimizers.deserialize(
            serialized, custom_objects=custom_objects)
        return cls(inner_optimizer, **config)
