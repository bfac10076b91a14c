"""The distributed training and evaluation step functions.

MLPerf-style custom training loop: each replica sums ``weight * loss`` over
its examples and divides by the *global* real batch size, so the cross-replica
sum of gradients that Keras's optimizer performs inside ``apply()`` is the
gradient of the mean loss over the global batch. With ``k`` micro-batches per
update step, each replica adds its micro-batch gradients into local
accumulators and the optimizer runs once per update step, so the optimizer,
the LR schedule and ``optimizer.iterations`` count update steps.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from limitbatch_tf.data.base import StepLayout

_SUM = tf.distribute.ReduceOp.SUM


class StepFunctions:
    """Builds the host-loop functions for one model/optimizer/strategy.

    Args:
      strategy: the tf.distribute strategy; model and optimizer live in it.
      model: a Keras model returning logits.
      optimizer: any Keras optimizer (already built on the model's variables).
      layout: the step layout shared with the input pipeline.
      loss_fn: per-example training loss ``(labels, logits) -> [batch]``.
      eval_loss_fn: per-example evaluation loss. Defaults to loss_fn.
      clip_global_norm: clip the all-reduced gradient to this global norm.
        Defaults to None (no clipping).
      clip_norm: clip each all-reduced gradient tensor to this norm.
        Defaults to None.
      measure_gradients: also return, per update step, the mean squared norm
        of micro-batch mean gradients (size b, one replica) and the squared
        norm of the update's global gradient (size B): the two sizes of the
        gradient-noise-scale estimator (McCandlish et al. 2018), in total
        and per trainable variable (``layer_sums``). Costs one extra
        all-reduce per update step. Defaults to False.
      jit_compile: XLA-compile each replica's forward and backward pass
        (``tf.function(jit_compile=True)``, the same switch as Keras's
        ``compile(jit_compile=True)``). Defaults to False.
    """

    def __init__(self, strategy, model, optimizer, layout: StepLayout, loss_fn,
                 eval_loss_fn=None, clip_global_norm=None, clip_norm=None,
                 measure_gradients=False, jit_compile=False):
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.layout = layout
        self.loss_fn = loss_fn
        self.eval_loss_fn = eval_loss_fn or loss_fn
        self.clip_global_norm = clip_global_norm
        self.clip_norm = clip_norm
        self.measure_gradients = measure_gradients
        # XLA compiles the per-replica forward and backward pass only: the
        # all-reduce and the optimizer update run in the replica context
        # (merge_call), which XLA cannot hold under Mirrored strategies.
        self._forward_backward = (
            tf.function(self._forward_backward_eager, jit_compile=True)
            if jit_compile else self._forward_backward_eager)
        self._accumulators = None
        if layout.micro_batches > 1:
            with strategy.scope():
                # ON_READ: each replica keeps its own partial sum; the
                # optimizer's all-reduce combines them once per update step.
                self._accumulators = [
                    tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                                synchronization=tf.VariableSynchronization.ON_READ,
                                aggregation=tf.VariableAggregation.SUM)
                    for v in model.trainable_variables]
        with strategy.scope():
            # Replica-local running sums, as MLPerf's TF2 ResNet and Orbit
            # keep their metrics: each replica adds its own values every
            # step and the cross-replica sum is taken once, when the host
            # loop reads them (issue 15.3). ON_READ variables must be reset
            # in the replica context (a cross-replica assign to a SUM
            # variable is refused), hence the strategy.run in the loops.
            # With measure_gradients the per-variable squared norms follow
            # TRAIN_SUMS (small, then big): the noise_scale_layers probe.
            self._layers = (len(model.trainable_variables)
                            if measure_gradients else 0)
            self._train_sums = _replica_local_sums(
                len(TRAIN_SUMS) + 2 * self._layers)
            self._eval_sums = _replica_local_sums(4)
        # The loops are written as tf.while_loop (``_repeat``), so nothing
        # here needs AutoGraph; without it a run starts ~N s sooner
        # (AutoGraph converts every Python function the trace calls:
        # benchmarks/README.md, issue 18.4).
        self.train_loop = tf.function(self._train_loop, autograph=False)
        self.eval_loop = tf.function(self._eval_loop, autograph=False)

    # --- per-replica pieces -------------------------------------------------
    def _call_model(self, images, weights, training):
        """Models built for padded layouts take the example weights too.

        models/resnet.py's ``example_weights_input``: the weights mask padded
        rows out of batch-norm statistics.
        """
        if len(getattr(self.model, "inputs", None) or ()) == 2:
            return self.model([images, weights], training=training)
        return self.model(images, training=training)

    def _gradients(self, batch):
        """(loss share, gradient of sum(w*loss)/B, squared norms of the
        micro-batch mean gradient per variable (None unless
        measure_gradients), weighted count of correct top-1 predictions)."""
        images, labels, weights = batch
        loss, grads, correct = self._forward_backward(images, labels, weights)
        small_sq = None
        if self.measure_gradients:
            # Rescale from "share of the global mean" to this micro-batch's
            # own mean gradient; padding-only micro-batches count as 0.
            real = tf.reduce_sum(weights)
            factor = self.layout.global_batch / tf.maximum(real, 1.0)
            small_sq = _squared_norms(grads, self._loss_scale()) * factor ** 2
        return loss, grads, small_sq, correct

    def _forward_backward_eager(self, images, labels, weights):
        with tf.GradientTape() as tape:
            logits = self._call_model(images, weights, training=True)
            per_example = self.loss_fn(labels, logits)
            loss = tf.reduce_sum(per_example * weights) / self.layout.global_batch
            scaled = self.optimizer.scale_loss(loss)
        # Training accuracy of the forward pass already made (as Keras's
        # fit() reports it: on the batch, in training mode).
        hit = tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                       tf.cast(labels, tf.int32))
        correct = tf.reduce_sum(tf.cast(hit, tf.float32) * weights)
        return (loss, tape.gradient(scaled, self.model.trainable_variables),
                correct)

    def _loss_scale(self):
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            return tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
        return tf.constant(1.0)

    def _global_squared_norms(self, grads):
        """Per-variable squared norms of the all-reduced gradient, or None."""
        if not self.measure_gradients:
            return None
        ctx = tf.distribute.get_replica_context()
        return _squared_norms(ctx.all_reduce(_SUM, grads), self._loss_scale())

    def _clip(self, grads):
        """Clips the all-reduced gradient, then hands Keras 1/R of it.

        Keras's TF optimizer always sums gradients across replicas inside
        apply() (clipnorm/global_clipnorm act before that sum, per replica),
        so to clip the *global* gradient we reduce here and pass each replica
        grad/R, which Keras's sum restores. The second all-reduce is paid
        only when clipping is on.
        """
        ctx = tf.distribute.get_replica_context()
        grads = ctx.all_reduce(_SUM, grads)
        scale = 1.0
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            scale = tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
        if self.clip_norm is not None:
            grads = [tf.clip_by_norm(g, self.clip_norm * tf.cast(scale, g.dtype))
                     for g in grads]
        if self.clip_global_norm is not None:
            grads, _ = tf.clip_by_global_norm(
                grads, self.clip_global_norm * scale)
        replicas = ctx.num_replicas_in_sync
        return [g / replicas for g in grads]

    def _apply(self, grads):
        if self.clip_global_norm is not None or self.clip_norm is not None:
            grads = self._clip(grads)
        self.optimizer.apply(grads, self.model.trainable_variables)

    def _add_to_sums(self, loss=0.0, small_sq=None, big_sq=None, correct=0.0):
        """Adds this replica's values to its running TRAIN_SUMS, then the
        per-variable squared norms (``small_sq``, ``big_sq``: vectors over
        the trainable variables, or None for zeros)."""
        zeros = tf.zeros([self._layers])
        small = zeros if small_sq is None else small_sq
        big = zeros if big_sq is None else big_sq
        head = tf.stack([tf.cast(x, tf.float32) for x in (
            loss, tf.reduce_sum(small), tf.reduce_sum(big), correct)])
        self._train_sums.assign_add(tf.concat([head, small, big], 0))

    def _step(self, batch):
        loss, grads, small_sq, correct = self._gradients(batch)
        big_sq = self._global_squared_norms(grads)
        self._apply(grads)
        self._add_to_sums(loss, small_sq, big_sq, correct)

    def _accumulate(self, batch):
        loss, grads, small_sq, correct = self._gradients(batch)
        for acc, grad in zip(self._accumulators, grads):
            acc.assign_add(grad)
        # the mean over an update's k micro-batches, summed over its steps
        if small_sq is not None:
            small_sq = small_sq / self.layout.micro_batches
        self._add_to_sums(loss, small_sq, correct=correct)

    def _apply_accumulated(self):
        grads = [acc.read_value() for acc in self._accumulators]
        big_sq = self._global_squared_norms(grads)
        self._apply(grads)
        for acc in self._accumulators:
            acc.assign(tf.zeros_like(acc))
        self._add_to_sums(big_sq=big_sq)

    def _eval_step(self, batch):
        images, labels, weights = batch
        logits = self._call_model(images, weights, training=False)
        labels = tf.cast(labels, tf.int32)
        per_example = self.eval_loss_fn(labels, logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                                   labels), tf.float32)
        top5 = tf.cast(tf.math.in_top_k(labels, tf.cast(logits, tf.float32),
                                        min(5, logits.shape[-1])), tf.float32)
        return tf.stack([tf.reduce_sum(per_example * weights),
                         tf.reduce_sum(correct * weights),
                         tf.reduce_sum(top5 * weights),
                         tf.reduce_sum(weights)])

    # --- host loops (cross-replica context) ----------------------------------
    def _one_update(self, iterator):
        """One update step: k micro-batches, then the optimizer, if k > 1."""
        if self._accumulators is None:
            self.strategy.run(self._step, args=(next(iterator),))
            return
        _repeat(self.layout.micro_batches, lambda: self.strategy.run(
            self._accumulate, args=(next(iterator),)))
        self.strategy.run(self._apply_accumulated)

    def _train_loop(self, iterator, num_steps):
        """Runs ``num_steps`` update steps; returns their TRAIN_SUMS.

        As MLPerf's TF2 host loop and Orbit write it: ``strategy.run`` per
        step, nothing read back inside the loop, no data-dependent break, and
        one cross-replica sum of the replica-local sums at the end. A
        non-finite loss is therefore seen once per loop, as a non-finite
        loss sum: the caller learns that the run diverged within these
        steps, not at which one (docs/architecture.md). Replica-local
        squared-norm sums are divided by the replica count here, so the
        returned values are means over replicas.
        """
        self.strategy.run(_reset, args=(self._train_sums,))
        _repeat(num_steps, lambda: self._one_update(iterator))
        loss, small, big, correct = tf.unstack(
            self._train_sums.read_value()[:len(TRAIN_SUMS)])
        replicas = self.strategy.num_replicas_in_sync
        return loss, small / replicas, big / replicas, correct

    def layer_sums(self):
        """The last ``train_loop``'s squared-norm sums per trainable variable
        (model order), as it returns their totals: ``(small, big)`` NumPy
        vectors, means over replicas; None without ``measure_gradients``.

        Read after the loop (one more cross-replica sum, only for the
        ``noise_scale_layers`` probe); the loop resets them when it starts.
        """
        if not self._layers:
            return None
        values = (self._train_sums.read_value()[len(TRAIN_SUMS):]
                  / self.strategy.num_replicas_in_sync).numpy()
        return values[:self._layers], values[self._layers:]

    def _eval_step_sums(self, batch):
        self._eval_sums.assign_add(self._eval_step(batch))

    def _eval_loop(self, iterator, num_steps):
        """Sums (loss, correct, top-5 correct, examples) over ``num_steps``,
        replica-local until the one cross-replica sum at the end."""
        self.strategy.run(_reset, args=(self._eval_sums,))
        _repeat(num_steps, lambda: self.strategy.run(
            self._eval_step_sums, args=(next(iterator),)))
        return self._eval_sums.read_value()


TRAIN_SUMS = ("loss", "small_sq", "big_sq", "correct")
"""What ``train_loop`` returns, each summed over its update steps: the
global mean training loss, the squared norm of micro-batch mean gradients
(mean over replicas and micro-batches; 0 unless ``measure_gradients``),
the squared norm of the global gradient (0 unless ``measure_gradients``)
and the weighted count of correct top-1 training predictions. With
``measure_gradients`` the replica-local sums also hold the two squared norms
per trainable variable (``StepFunctions.layer_sums``)."""


def _repeat(count, body):
    """Calls ``body()`` ``count`` times inside a tf.while_loop (what
    AutoGraph makes of ``for _ in tf.range(count)``, written out). The
    body's state changes (variables, the iterator) are its effect; they
    run in order, one iteration after the other."""
    def loop(i):
        body()
        return i + 1
    tf.while_loop(lambda i: i < count, loop, [tf.constant(0)])


def _replica_local_sums(size):
    return tf.Variable(tf.zeros([size]), trainable=False,
                       synchronization=tf.VariableSynchronization.ON_READ,
                       aggregation=tf.VariableAggregation.SUM)


def _reset(variable):
    variable.assign(tf.zeros_like(variable))


def _squared_norms(grads, loss_scale):
    """Each gradient's sum of squares (a vector over ``grads``), in float32,
    with loss scaling undone."""
    total = tf.stack([tf.reduce_sum(tf.square(tf.cast(g, tf.float32)))
                      for g in grads])
    return total / tf.square(loss_scale)
