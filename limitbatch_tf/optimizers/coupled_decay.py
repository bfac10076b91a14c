"""Coupled L2 weight decay, with the layer-wise optimizers' masks, for any
lr-multiplicative Keras optimizer used without layer-wise adaptation."""
import keras

from limitbatch_tf.optimizers import _numerics as numerics
from limitbatch_tf.optimizers import wrapper


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class CoupledWeightDecay(wrapper.InnerOptimizerWrapper):
    """Runs ``inner_optimizer`` on the L2-regularised gradient ``g + wd * w``.

    This is weight decay as the large-batch papers use it for their
    baselines (momentum SGD in Goyal et al. 2017 and MLPerf; the "original"
    column of You et al. 2020, Table 3): the gradient of
    ``wd / 2 * ||w||^2`` added to the loss gradient, before the optimizer's
    state, with the same exclusions as LARS/LAMB (rank <= 1 variables by
    default, plus regexes):

    ```python
    w = inner_update(g + wd * w, lr)        # wd = 0 for excluded variables
    ```

    Keras's own ``weight_decay`` argument is decoupled (``w -= lr * wd * w``
    outside the optimizer) and is refused on ``inner_optimizer``. Unlike
    `LayerwiseTrustRatio`, the inner optimizer runs at the real learning
    rate, so Keras SGD momentum keeps its lr-inside-the-buffer form.

    Args:
        inner_optimizer: unbuilt Keras optimizer of a type in ``wrapper.SUPPORTED``;
            its learning rate (float or schedule) is used.
        weight_decay: float >= 0, L2 coefficient. Defaults to 0.0.
        exclude_vectors: bool, no decay for rank <= 1 variables. Defaults to
            True.
        exclude_from_weight_decay: list of regexes on variable paths.
            Defaults to None.
        **kwargs: Keras base optimizer arguments (name, clipnorm, ...).

    References:
        - [Goyal et al., 2017](https://arxiv.org/abs/1706.02677), eq. (1)-(2).
        - [You et al., 2020](https://arxiv.org/abs/2006.08517), Table 3.
    """

    _exclusion_kinds = ("weight_decay",)

    def __init__(self, inner_optimizer, weight_decay=0.0, exclude_vectors=True,
                 exclude_from_weight_decay=None, name=None, **kwargs):
        super().__init__(
            inner_optimizer, weight_decay=weight_decay, exclude_vectors=exclude_vectors,
            exclude_from_weight_decay=exclude_from_weight_decay, name=name,
            **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        """Calls ``inner_optimizer.update_step`` with the L2-regularised gradient."""
        _, wd, _ = self._settings(variable)
        if wd:
            gradient = (numerics.as_float32(gradient)
                        + wd * numerics.as_float32(variable))
        self.inner_optimizer.update_step(gradient, variable, learning_rate)
