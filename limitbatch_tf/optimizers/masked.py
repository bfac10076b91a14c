"""The base of every optimizer here: coupled L2 and trust ratios under masks.

``MaskedOptimizer`` is the common base of LARS, LAMB, LayerwiseTrustRatio
and CoupledWeightDecay. It owns three things and nothing else:

* the coupled L2 weight decay ``wd`` (the papers' ``g + wd * w`` or
  ``u + wd * w``). It is deliberately NOT handed to the Keras base class,
  whose ``weight_decay`` is the decoupled ``w -= lr * wd * w`` applied before
  ``update_step``; with both, decay would be applied twice. It is stored as
  ``coupled_weight_decay`` and round-trips as the ``weight_decay`` config key;
* the exclusion masks (``masks.ExclusionMasks``), resolved once in build();
* one float32 scalar optimizer variable per adapted model variable holding
  the last step's trust ratio (``trust_ratios``), for telemetry.
"""
import math

import keras
import tensorflow as tf

from limitbatch_tf.optimizers import masks as masks_lib


# The arguments every MaskedOptimizer takes, for the subclasses' docstrings
# (as Keras fills its optimizers' "{{base_optimizer_keyword_args}}").
MASK_ARGS = """exclude_vectors: bool, exclude rank <= 1 variables from weight
            decay and adaptation. Defaults to True (MLPerf practice).
        exclude_from_weight_decay: list of regexes on variable paths;
            matching variables get no weight decay. Defaults to None.
        exclude_from_adaptation: list of regexes on variable paths;
            matching variables get trust ratio 1. Defaults to None.
        **kwargs: Keras base optimizer arguments (name, clipnorm, ...);
            ``weight_decay`` is the coupled L2 coefficient, never Keras's."""


class MaskedOptimizer(keras.optimizers.Optimizer):
    """Base class; subclasses implement ``update_step`` and ``_own_config``.

    Args:
        learning_rate: float, `LearningRateSchedule` or callable.
        weight_decay: float >= 0, coupled L2 coefficient. Defaults to 0.0.
        exclude_vectors: bool; exclude variables of rank <= 1 (biases,
            BatchNorm gamma/beta) from weight decay and adaptation. Defaults
            to True (MLPerf practice).
        exclude_from_weight_decay: list of regexes on the variable path;
            matching variables get no weight decay. Defaults to None.
        exclude_from_adaptation: list of regexes; matching variables get
            trust ratio 1. Defaults to None. Only for adaptive subclasses.
        **kwargs: Keras base optimizer arguments (name, clipnorm, ...);
            ``weight_decay`` is the coupled one above, never Keras's.
    """

    # Subclasses without a trust ratio set this to ("weight_decay",).
    _exclusion_kinds = masks_lib.KINDS

    def __init__(self, learning_rate, *, weight_decay=0.0,
                 exclude_vectors=True, exclude_from_weight_decay=None,
                 exclude_from_adaptation=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if (isinstance(weight_decay, bool)
                or not isinstance(weight_decay, (int, float))
                or not math.isfinite(weight_decay) or weight_decay < 0):
            raise ValueError(
                f"`weight_decay` must be a finite float >= 0; "
                f"received {weight_decay!r}")
        if not isinstance(exclude_vectors, bool):
            raise ValueError(
                f"`exclude_vectors` must be a bool; received {exclude_vectors!r}")
        self.coupled_weight_decay = float(weight_decay)
        self.exclude_vectors = exclude_vectors
        patterns = {"weight_decay": masks_lib.validate_patterns(
            "exclude_from_weight_decay", exclude_from_weight_decay)}
        if "adaptation" in self._exclusion_kinds:
            patterns["adaptation"] = masks_lib.validate_patterns(
                "exclude_from_adaptation", exclude_from_adaptation)
        elif exclude_from_adaptation is not None:
            raise ValueError(
                f"`exclude_from_adaptation` is not an argument of "
                f"{type(self).__name__}, which has no layer-wise adaptation")
        # A plain object, not a dict attribute: Keras/TF trackers would wrap
        # a dict; these are configuration, not state.
        self._patterns = _Frozen(patterns)
        self._masks = None
        self._decay_rates = None
        self._adapted = None
        self._trust_ratio_variables = []

    def build(self, var_list):
        """Creates the per-variable masks and trust-ratio variables."""
        if self.built:
            return
        super().build(var_list)
        self._masks = masks_lib.ExclusionMasks(
            var_list, exclude_vectors=self.exclude_vectors,
            patterns=self._patterns.value, kinds=self._exclusion_kinds,
            owner=self.name)
        self._decay_rates = _Frozen([
            self.coupled_weight_decay if keep else 0.0
            for keep in self._masks.included("weight_decay")])
        if "adaptation" in self._exclusion_kinds:
            adapted = self._masks.included("adaptation")
        else:
            adapted = [False] * len(var_list)
        self._adapted = _Frozen(adapted)
        self._trust_ratio_variables = [
            self.add_variable(
                shape=(), initializer="ones", dtype="float32",
                name=masks_lib.variable_path(v).replace("/", "_")
                + "_trust_ratio")
            if adapt else None
            for v, adapt in zip(var_list, adapted)]

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Not supported: Keras's hook configures its decoupled decay."""
        raise ValueError(
            f"{type(self).__name__} uses coupled L2 decay: pass "
            f"`exclude_from_weight_decay=[regex, ...]` to the constructor")

    # -- helpers for update_step -------------------------------------------
    def _settings(self, variable):
        """(index, decay rate, adapted?) of a model variable, Python values."""
        index = self._get_variable_index(variable)
        return index, self._decay_rates.value[index], self._adapted.value[index]

    def _record_trust_ratio(self, index, ratio):
        self.assign(self._trust_ratio_variables[index], ratio)

    # -- telemetry and reporting -------------------------------------------
    @property
    def trust_ratios(self):
        """Dict variable path -> float32 scalar tensor: last step's ratio.

        Only adapted variables appear; all read 1.0 before the first step.
        Empty until the optimizer is built.
        """
        if not self.built:
            return {}
        return {
            path: tf.convert_to_tensor(var)
            for path, var in zip(self._masks.paths, self._trust_ratio_variables)
            if var is not None}

    def exclusion_report(self):
        """Rows ``{path, shape, excluded_from_<kind>: rule or None}``.

        Raises:
            ValueError: if the optimizer is not built yet.
        """
        if not self.built:
            raise ValueError(
                f"{self.name} is not built: call "
                f"`optimizer.build(model.trainable_variables)` first")
        return self._masks.report()

    def print_exclusions(self, print_fn=print):
        """Prints ``exclusion_report()`` as a table; returns the text."""
        text = masks_lib.format_report(self.exclusion_report())
        print_fn(text)
        return text

    # -- serialization -----------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config["weight_decay"] = self.coupled_weight_decay
        config["exclude_vectors"] = self.exclude_vectors
        for kind, patterns in self._patterns.value.items():
            config[f"exclude_from_{kind}"] = list(patterns)
        return config


class _Frozen:
    """Holds a value out of reach of Keras/TF attribute tracking."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def pair_config(pair):
    """JSON-friendly form of an optional ``(lo, hi)`` pair."""
    return None if pair is None else list(pair)
