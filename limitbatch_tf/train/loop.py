"""train.run(config): one training run from a validated Config to results.json.

Data flows one way: config -> strategy -> data, model, optimizer -> host
loop -> telemetry -> results. ``run`` reads as three parts: ``setup`` builds
a ``Run`` (everything the loop needs, restored from the latest checkpoint),
``train`` runs host loops until ``why_stop`` gives a reason, and the
``Record`` writes results.json. The loop knows nothing of which optimizer
or model it runs; it counts update steps, which is what the optimizer's
``iterations`` counts too. (flax's ImageNet example's ``train_and_evaluate``
and big_vision's loop are split the same way.)
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Optional

import keras
import tensorflow as tf

from limitbatch_tf import distribute, rundir
from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.data import registry as data_registry
from limitbatch_tf.data.base import eval_steps
from limitbatch_tf.losses import per_example_cross_entropy
from limitbatch_tf.models import registry as model_registry
from limitbatch_tf.train import build, run_dir
from limitbatch_tf.train.checkpoint import Checkpointer
from limitbatch_tf.train.mlperf_log import MlperfLog
from limitbatch_tf.train.plan import Plan, checkpoint_intervals, make_plan
from limitbatch_tf.train.preemption import PreemptionWatcher
from limitbatch_tf.train.probes import Probes
from limitbatch_tf.train.record import Record
from limitbatch_tf.train.steps import StepFunctions
from limitbatch_tf.train.telemetry import Telemetry


def _current_lr(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@dataclasses.dataclass
class Run:
    """What ``setup`` builds for one run; ``step`` is the only moving part."""

    config: Config
    strategy: object
    source: object  # data.base source: info, eval_splits, datasets
    plan: Plan
    model: object
    optimizer: object
    steps: StepFunctions
    probes: Probes
    checkpointer: Checkpointer
    telemetry: Telemetry
    mlperf: MlperfLog
    record: Record
    train_iter: object
    eval_iters: dict
    step: int
    target: Optional[tuple] = None  # (metric name, accuracy to reach)

    @property
    def epoch(self) -> float:
        return self.plan.epoch(self.step)


def input_iterator(strategy, dataset_fn):
    """An iterator over ``dataset_fn``'s batches for ``strategy``.

    One CPU device (every sweep trial on this project's machines) iterates
    the dataset itself: the iterator tf.distribute wraps around it runs
    tf.data's autotuning model thread whatever the dataset's options say,
    and deleting that iterator at the end of a run waited for the thread's
    sleep (11.9 s after 70 s of iteration, 35 s after a 10-epoch run; a
    plain iterator: 0.0 s; benchmarks/README.md, issue 16.3). OneDevice
    replicas take plain tensors, so the batches are the same.
    """
    if (isinstance(strategy, tf.distribute.OneDeviceStrategy)
            and "CPU" in strategy.extended.worker_devices[0].upper()):
        return iter(dataset_fn(tf.distribute.InputContext(1, 0, 1)))
    return iter(strategy.distribute_datasets_from_function(dataset_fn))


def setup(config: Config, strategy, start_time: float) -> Run:
    """Everything a run needs, validated before anything is written, then
    restored from the model_dir's latest checkpoint."""
    if not distribute.is_chief(strategy):
        # Every worker must take part in saving; only the chief's files count.
        config = dataclasses.replace(config, model_dir=rundir.join(
            config.model_dir, f"worker{distribute.task_id(strategy)}"))
    crop_area_range, crop_aspect_range = config.crop_ranges()
    source = data_registry.build_source(
        config.dataset, config.data_dir, config.validation_examples,
        config.augment, config.image_size, crop_area_range=crop_area_range,
        crop_aspect_range=crop_aspect_range, label_offset=config.label_offset,
        cache_records=config.cache_records,
        shuffle_buffer=config.shuffle_buffer)
    target = _target(config, source.eval_splits)
    plan = make_plan(config, source.info.num_train,
                     strategy.num_replicas_in_sync)
    layout = plan.layout
    with strategy.scope():  # built once; it also validates the flags
        optimizer = build.build_optimizer(config, plan.schedule)
    bn_span = model_registry.bn_span_of(config, layout)
    precision = build.set_precision(config, strategy, bn_span, layout)
    if layout.micro_batches > 1 and layout.num_replicas > 1:
        # Grappler's arithmetic optimizer rewrites adds in the micro-batch
        # while loop into temporary-variable accumulators whose names collide
        # across replicas on the loop's second call ("ALREADY_EXISTS ...
        # AddOpsRewrite_add/tmp_var", ResNet-50 on 2 replicas x 4
        # micro-batches, TF 2.21). Off for such layouts; results unchanged.
        tf.config.optimizer.set_experimental_options(
            {"arithmetic_optimization": False})
    resuming = run_dir.prepare(config)
    mlperf = MlperfLog(config.model_dir)
    if bn_span is not None:
        print(f"batch norm: {bn_span} examples per statistic (micro-batch "
              f"{layout.per_replica_batch} x {layout.micro_batches} per "
              f"replica, {layout.num_replicas} replicas)", flush=True)
    mlperf.init_start(config, plan, sum(source.eval_splits.values()), bn_span)

    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        try:
            model = model_registry.build_model(config.model, source.info,
                                               config, layout)
        except ValueError as e:  # BN span / group that the layout cannot hold
            raise ConfigError(f"--model={config.model}: {e}") from None
        if precision == "mixed_float16":
            # float16 gradients underflow without it (Micikevicius et al.
            # 2018); Keras's dynamic loss scaling, which steps.py honours.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    if config.print_exclusions:
        build.print_exclusions(optimizer)
    record = Record(config.model_dir, resuming, start_time)
    probes = Probes(config.probes(), strategy, model,
                    getattr(optimizer, "inner_optimizer", optimizer), layout,
                    record.previous_telemetry)
    steps = StepFunctions(
        strategy, model, optimizer, layout,
        loss_fn=functools.partial(per_example_cross_entropy,
                                  label_smoothing=config.label_smoothing),
        eval_loss_fn=per_example_cross_entropy,
        clip_global_norm=config.clip_global_norm, clip_norm=config.clip_norm,
        measure_gradients=probes.measure_gradients,
        jit_compile=config.jit_compile)

    # Dropout's SeedGenerator states are not tracked by the model's
    # checkpoint; saving them makes a resumed run draw the same masks.
    rng_states = [v.value for v in model.variables
                  if "seed_generator_state" in v.path]
    checkpointer = Checkpointer(config.model_dir, model=model,
                                optimizer=optimizer, rng=rng_states,
                                **probes.checkpoint_items())
    checkpointer.restore_latest()
    step = int(optimizer.iterations.numpy())
    probes.truncate(step)
    if resuming:
        mlperf.resume(plan.epoch(step))
        print(f"resuming {config.model_dir} at step {step}", flush=True)

    seed = config.seed
    train_iter = input_iterator(strategy, lambda ctx: source.train_dataset(
        ctx, layout, seed, start_step=step))
    eval_iters = {split: input_iterator(
        strategy, lambda ctx, s=split: source.eval_dataset(ctx, layout, s).repeat())
        for split in source.eval_splits}
    record.begin(
        step, config=config.to_dict(), global_batch_size=layout.global_batch,
        num_train_examples=plan.num_train, total_steps=plan.total_steps,
        step_layout=dataclasses.asdict(layout),
        peak_learning_rate=plan.peak_lr,
        num_replicas=strategy.num_replicas_in_sync,
        strategy=type(strategy).__name__, bn_span=bn_span,
        precision=precision, jit_compile=config.jit_compile)
    telemetry = Telemetry(config.model_dir, plan.total_steps,
                          layout.global_batch)
    return Run(config, strategy, source, plan, model, optimizer, steps, probes,
               checkpointer, telemetry, mlperf, record, train_iter, eval_iters,
               step, target)


def _metric_name(split: str, metric: str) -> str:
    """results.json's name of an eval split's metric: eval_* for test."""
    return f"{'eval' if split == 'test' else split}_{metric}"


def _target(config: Config, eval_splits) -> Optional[tuple]:
    """(metric name, value) that --target_accuracy stops at, or None."""
    if config.target_accuracy is None:
        return None
    split = config.target_split or (
        "validation" if "validation" in eval_splits else "test")
    if split not in eval_splits:
        raise ConfigError(
            f"--target_split={split}: --dataset={config.dataset} has no "
            f"{split} split here (validation needs --validation_examples)")
    return _metric_name(split, "accuracy"), config.target_accuracy


def evaluate(run: Run) -> dict:
    """Every eval split's loss and accuracies at the current step."""
    metrics = {}
    for split, iterator in run.eval_iters.items():
        n = eval_steps(run.source.eval_splits[split], run.plan.layout)
        loss, correct, top5, count = run.steps.eval_loop(
            iterator, tf.constant(n)).numpy()
        split_metrics = {"loss": loss / count, "accuracy": correct / count,
                         "top5_accuracy": top5 / count}
        run.telemetry.eval_done(run.step, run.epoch, split, split_metrics)
        metrics.update({_metric_name(split, k): float(v)
                        for k, v in split_metrics.items()})
    return metrics


def why_stop(run: Run, non_finite: bool = False,
             preempted: Optional[str] = None) -> Optional[str]:
    """The status the run stops with after the current host loop, or None.

    In order: a non-finite loss ("diverged"); a loss above --unstable_factor
    times the best so far ("unstable"); an evaluation at this step that
    reached --target_accuracy ("target_reached"); a termination signal
    ("preempted"); the last step ("completed").
    """
    config, record = run.config, run.record
    if non_finite:
        print(f"diverged at step {run.step}: non-finite loss", flush=True)
        return rundir.DIVERGED
    if (config.unstable_factor is not None
            and record.train_loss > config.unstable_factor * record.best_loss):
        print(f"unstable at step {run.step}: loss {record.train_loss:.4g} > "
              f"{config.unstable_factor} x best {record.best_loss:.4g}",
              flush=True)
        return rundir.UNSTABLE
    history = record.results.get("history")
    if run.target and history and history[-1]["step"] == run.step:
        name, goal = run.target
        if history[-1].get(name, -1.0) >= goal:
            print(f"target reached at step {run.step}: {name} "
                  f"{history[-1][name]:.4f} >= {goal}", flush=True)
            return rundir.TARGET_REACHED
    if preempted:
        return rundir.PREEMPTED
    if run.step >= run.plan.total_steps:
        return rundir.COMPLETED
    return None


def _train_steps(run: Run, n: int) -> bool:
    """Runs one host loop of ``n`` steps; True on a non-finite loss.

    The loop reads nothing back until its end (steps.py), so divergence is
    seen at loop granularity: ``run.step`` is then the loop's last step.
    """
    tic = time.time()
    loss_sum, small_sq, big_sq, correct = (
        float(x) for x in run.steps.train_loop(run.train_iter, tf.constant(n)))
    seconds = time.time() - tic
    run.step += n
    if not math.isfinite(loss_sum):
        print(f"non-finite loss within steps {run.step - n + 1}-{run.step}",
              flush=True)
        return True
    run.record.trained(loss_sum / n)
    accuracy = correct / (n * run.plan.layout.global_batch)
    run.telemetry.train_loop_done(run.step, run.epoch, run.record.train_loss,
                                  accuracy, _current_lr(run.optimizer), n,
                                  seconds)
    run.probes.after_loop(run.step, n, small_sq, big_sq, run.telemetry,
                          run.steps.layer_sums() if run.probes.layer_noise
                          else None)
    return False


def _evaluate_and_log(run: Run) -> None:
    run.mlperf.end_block()
    metrics = evaluate(run)
    run.probes.at_eval(run.step, run.telemetry)
    run.mlperf.eval(run.epoch, metrics["eval_accuracy"])
    # MLPerf's time to train: each evaluation knows when it happened.
    run.record.evaluated(metrics, step=run.step, epoch=run.epoch,
                         examples=run.step * run.plan.layout.global_batch,
                         wall_time_s=run.record.wall_time(),
                         **run.probes.history_fields())


def _to_target(run: Run, status: str) -> dict:
    """results.json's steps/epochs/examples/seconds to target (None when
    the target was not reached); empty without --target_accuracy."""
    if run.target is None:
        return {}
    last = run.record.results["history"][-1] if (
        status == rundir.TARGET_REACHED) else {}
    return {f"{what}_to_target": last.get(key) for what, key in (
        ("steps", "step"), ("epochs", "epoch"), ("examples", "examples"),
        ("seconds", "wall_time_s"))}


def _save(run: Run, status: str) -> dict:
    return run.record.save(status, run.step, run.epoch, run.probes.results(),
                           **_to_target(run, status))


def train(run: Run) -> str:
    """Host loops until ``why_stop`` gives a reason; returns that status.

    Each host loop ends at the next evaluation or checkpoint boundary. A
    diverged or unstable run stops at once; otherwise the step's evaluation,
    results.json and (at evaluations unless --checkpoint_every_epochs sets
    its own cadence, and at the last step) checkpoint are written before it
    stops.
    """
    config, plan = run.config, run.plan
    intervals = checkpoint_intervals(config, plan)
    at_eval = not config.checkpoint_every_epochs
    status = why_stop(run)
    with PreemptionWatcher() as watcher:
        while status is None:
            next_eval = plan.next_eval(run.step)
            run.mlperf.ensure_block(run.epoch, plan.epoch(next_eval))
            boundary = min([next_eval] + [(run.step // i + 1) * i
                                          for i in intervals])
            non_finite = _train_steps(
                run, min(config.steps_per_loop, boundary - run.step))
            failed = why_stop(run, non_finite)
            if failed in rundir.FAILED:
                return failed
            evaluated = run.step == next_eval
            if evaluated:
                _evaluate_and_log(run)
            checkpoint = (evaluated and at_eval
                          or run.step == plan.total_steps
                          or any(run.step % i == 0 for i in intervals))
            if evaluated or checkpoint:
                # The log first: one that runs ahead of the checkpoint is
                # cut back on resume (mlperf_log.continuation), a lagging
                # one would lose this evaluation; results.json's history
                # past the restored step is dropped on resume (Record.begin).
                run.mlperf.flush()
                if checkpoint:
                    run.checkpointer.save(run.step)
                _save(run, rundir.RUNNING)
                run.telemetry.flush()
            status = why_stop(run, preempted=watcher.requested)
            if status == rundir.PREEMPTED:
                run.checkpointer.save(run.step)
                print(f"preempted by {watcher.requested} at step {run.step}; "
                      f"checkpoint saved", flush=True)
    return status


def run(config: Config, strategy=None) -> dict:
    """Trains and evaluates as ``config`` says; returns the results dict.

    ``strategy`` defaults to the one the config names; the command line
    builds it before importing Keras (see main.py).
    """
    config.validate()
    start_time = time.time()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if strategy is None:
        strategy = distribute.build_strategy(
            config.strategy, config.tpu, config.num_cpu_replicas,
            tpu_init_timeout=config.tpu_init_timeout)
    run_ = setup(config, strategy, start_time)
    run_.mlperf.init_stop_run_start()
    run_.mlperf.flush()
    status = train(run_)
    if status == rundir.COMPLETED and not run_.record.metrics:
        # Resumed a finished run: report its final numbers.
        run_.record.metrics = evaluate(run_)
    # MLPerf's success: the target reached (or a run without one finished).
    run_.mlperf.run_stop(status == rundir.TARGET_REACHED or (
        status == rundir.COMPLETED and run_.target is None))
    run_.mlperf.close()
    results = _save(run_, status)
    run_.telemetry.flush()
    print(f"{status}: step {run_.step} " + " ".join(
        f"{k} {v:.4f}" for k, v in sorted(run_.record.metrics.items())),
        flush=True)
    return results
