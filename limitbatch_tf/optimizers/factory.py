"""``build_optimizer``: one place that turns optimizer flags into a Keras optimizer.

Name -> optimizer (``wd`` = coupled L2 with the rank <= 1 + regex masks):

=============  ===============================================================
sgd            SGD without momentum
momentum       SGD with ``momentum`` (Nesterov optional), lr inside the buffer
lars           ``LARS`` (MLPerf form), eeta ``lars_eeta``, eps ``lars_epsilon``
lamb           ``LAMB`` (coupled wd inside the trust ratio, optional bounds)
adam           Adam (Keras)
adagrad        Adagrad (Keras)
rmsprop        RMSprop (Keras defaults: rho 0.9, no momentum)
keras_lamb     ``keras.optimizers.Lamb`` for comparison: decoupled Keras decay,
               no exclusions, no bounds
=============  ===============================================================

sgd/momentum/adam/adagrad/rmsprop: with ``layerwise=True`` they are wrapped
in ``LayerwiseTrustRatio`` (eeta ``lars_eeta`` for the SGD family, 1.0 for
the adaptive ones, as in LAMB); otherwise, when ``weight_decay > 0`` or
``exclude_from_weight_decay`` is given, in ``CoupledWeightDecay``.
Arguments that a name does not use are ignored here: the factory trusts a
validated Config, whose ``check_applies`` (one table, ``config.APPLIES_TO``)
refuses a flag set where it has no effect, so none is silently ignored.
"""
import keras

from limitbatch_tf.config import OPTIMIZERS
from limitbatch_tf.optimizers.coupled_decay import CoupledWeightDecay
from limitbatch_tf.optimizers.lamb import LAMB
from limitbatch_tf.optimizers.lars import LARS
from limitbatch_tf.optimizers.layerwise import LayerwiseTrustRatio

NAMES = OPTIMIZERS
_SGD_FAMILY = ("sgd", "momentum")
_DEFAULT_LARS_EETA = 1e-3
_DEFAULT_EPSILON = {"lamb": 1e-6, "adam": 1e-7, "adagrad": 1e-7,
                    "rmsprop": 1e-7, "keras_lamb": 1e-7}


def build_optimizer(name, learning_rate, *, momentum=0.9, nesterov=False,
                    weight_decay=0.0, beta_1=0.9, beta_2=0.999, epsilon=None,
                    lars_eeta=_DEFAULT_LARS_EETA, lars_epsilon=0.0,
                    layerwise=False, trust_ratio_bounds=None,
                    exclude_from_weight_decay=None,
                    exclude_from_adaptation=None, exclude_vectors=True):
    """Builds the optimizer called ``name``; see the module table.

    Args:
        name: one of ``NAMES``.
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: momentum of "momentum" and "lars". Defaults to 0.9.
        nesterov: Nesterov momentum ("momentum", "lars"). Defaults to False.
        weight_decay: coupled L2 coefficient (Keras's decoupled decay for
            "keras_lamb"). Defaults to 0.0.
        beta_1: first-moment decay of adam/lamb/keras_lamb. Defaults to 0.9.
        beta_2: second-moment decay of adam/lamb/keras_lamb. Defaults to
            0.999.
        epsilon: epsilon of adam/lamb/adagrad/rmsprop/keras_lamb; None means
            that optimizer's default (1e-6 for lamb, 1e-7 otherwise); 0 stays
            0. Defaults to None.
        lars_eeta: trust coefficient of "lars" and of layer-wise sgd/momentum.
            Defaults to 1e-3.
        lars_epsilon: denominator epsilon of "lars". Defaults to 0.0.
        layerwise: wrap sgd/momentum/adam/adagrad/rmsprop in
            `LayerwiseTrustRatio` (ignored for the others). Defaults to
            False.
        trust_ratio_bounds: ``(r_min, r_max)`` for "lamb" or layer-wise
            optimizers (the paper's bound-ratio). Defaults to None.
        exclude_from_weight_decay: regexes on variable paths, added to the
            rank <= 1 rule. Defaults to None.
        exclude_from_adaptation: regexes on variable paths for lars, lamb and
            layer-wise optimizers. Defaults to None.
        exclude_vectors: exclude rank <= 1 variables from weight decay and
            adaptation (MLPerf). False needs an optimizer with one of them.
            Defaults to True.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ValueError: unknown ``name`` (the message lists ``NAMES``).
    """
    if name not in NAMES:
        raise ValueError(
            f"unknown optimizer name {name!r}; expected one of {list(NAMES)}")
    if isinstance(learning_rate, int) and not isinstance(learning_rate, bool):
        learning_rate = float(learning_rate)
    eps = _DEFAULT_EPSILON.get(name) if epsilon is None else float(epsilon)
    masks = {"weight_decay": weight_decay,
             "exclude_from_weight_decay": exclude_from_weight_decay,
             "exclude_vectors": exclude_vectors}

    if name == "lars":
        return LARS(learning_rate, momentum=momentum, nesterov=nesterov,
                    eeta=lars_eeta, epsilon=lars_epsilon,
                    exclude_from_adaptation=exclude_from_adaptation, **masks)
    if name == "lamb":
        return LAMB(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=eps,
                    trust_ratio_bounds=trust_ratio_bounds,
                    exclude_from_adaptation=exclude_from_adaptation, **masks)
    if name == "keras_lamb":
        return keras.optimizers.Lamb(
            learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=eps,
            weight_decay=weight_decay if weight_decay else None)

    inner = _keras_optimizer(name, learning_rate, momentum, nesterov,
                             beta_1, beta_2, eps)
    if layerwise:
        return LayerwiseTrustRatio(
            inner, eeta=lars_eeta if name in _SGD_FAMILY else 1.0,
            trust_ratio_bounds=trust_ratio_bounds,
            exclude_from_adaptation=exclude_from_adaptation, **masks)
    if weight_decay or exclude_from_weight_decay is not None:
        return CoupledWeightDecay(inner, **masks)
    return inner


def _keras_optimizer(name, learning_rate, momentum, nesterov, beta_1, beta_2,
                     epsilon):
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=float(momentum),
                                    nesterov=nesterov)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1,
                                     beta_2=beta_2, epsilon=epsilon)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate, epsilon=epsilon)
    return keras.optimizers.RMSprop(learning_rate, epsilon=epsilon)

