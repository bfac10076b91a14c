"""train.run(config): one training run from a validated Config to results.json.

Data flows one way: config -> strategy -> data, model, optimizer -> host
loop -> telemetry -> results. The loop knows nothing of which optimizer or
model it runs; it counts update steps, which is what the optimizer's
``iterations`` counts too, and resumes from the latest checkpoint.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time

import keras
import tensorflow as tf

from limitbatch_tf import distribute, optimizers, schedules
from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.data import registry as data_registry
from limitbatch_tf.data.base import StepLayout, eval_steps
from limitbatch_tf.losses import per_example_cross_entropy
from limitbatch_tf.models import registry as model_registry
from limitbatch_tf.train import run_dir
from limitbatch_tf.train.checkpoint import Checkpointer
from limitbatch_tf.train.mlperf_log import MlperfLog
from limitbatch_tf.train.preemption import PreemptionWatcher
from limitbatch_tf.train.probes import Probes
from limitbatch_tf.train.results import (RESULTS_FILE, machine, read_json,
                                         versions, write_json_atomic)
from limitbatch_tf.train.steps import StepFunctions
from limitbatch_tf.train.telemetry import Telemetry


@dataclasses.dataclass(frozen=True)
class Plan:
    """Durations of a run, all in update steps (converted here, once)."""

    layout: StepLayout
    num_train: int
    total_steps: int
    eval_every_steps: float
    peak_lr: float
    schedule: object  # keras LearningRateSchedule

    def next_eval(self, step: int) -> int:
        """The first evaluation step after ``step``: ceil(j * interval), or the end."""
        j = math.floor(step / self.eval_every_steps + 1e-9) + 1
        return min(self.total_steps, math.ceil(j * self.eval_every_steps - 1e-9))

    @property
    def steps_per_epoch(self) -> float:
        return self.num_train / self.layout.global_batch

    def epoch(self, step: int) -> float:
        return step / self.steps_per_epoch


def make_plan(config: Config, num_train: int, num_replicas: int) -> Plan:
    """Resolves batch size, step layout and durations for a dataset."""
    full = config.batch_size == "full"
    batch = num_train if full else int(config.batch_size)
    if batch > num_train:
        raise ConfigError(f"--batch_size={batch} exceeds the {num_train} "
                          f"training examples of --dataset={config.dataset}")
    layout = StepLayout.resolve(batch, num_replicas, config.micro_batch_size,
                                allow_padding=full or config.pad_batches)
    if ("noise_scale" in config.probes()
            and layout.per_replica_batch == layout.global_batch):
        # McCandlish et al.'s estimator needs gradients at two batch sizes:
        # per-replica micro-batch (b) and global (B); b == B gives 0/0.
        raise ConfigError(
            f"--telemetry=noise_scale needs two gradient sizes: run on more "
            f"than one replica or set --micro_batch_size below the "
            f"per-replica batch ({layout.per_replica_batch})")
    if config.train_steps is not None:
        total = config.train_steps
    else:
        total = math.ceil(config.epochs * num_train / batch)
        if total < 1:
            raise ConfigError(f"--epochs={config.epochs} is less than one step")
    every = max(1.0, config.eval_every_epochs * num_train / batch)
    peak_lr, schedule = make_schedule(config, num_train / batch, total, batch)
    return Plan(layout, num_train, total, every, peak_lr, schedule)


def set_precision(config: Config, strategy, bn_span, layout) -> str:
    """Sets Keras's global dtype policy for this run; returns its name.

    Always set (float32 included): the policy is process-global, and a run
    must not inherit the previous run's.
    """
    on_tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    precision = config.resolved_precision(on_tpu)
    keras.mixed_precision.set_global_policy(precision)
    if (config.jit_compile and not on_tpu and bn_span is not None
            and layout.num_replicas > 1
            and bn_span > layout.per_replica_batch):
        raise ConfigError(
            f"--jit_compile: batch norm spans {bn_span} examples across "
            f"replicas (per-replica batch {layout.per_replica_batch}); its "
            f"all-reduce cannot run inside XLA off TPU: use --bn=local/ghost "
            f"or drop --jit_compile")
    return precision


def make_schedule(config: Config, spe: float, total: int, batch: int):
    """The paper's recipe: scaled peak LR, warmup, decay (one place)."""
    try:
        peak = schedules.scaled_learning_rate(
            config.learning_rate, batch, config.base_batch_size,
            config.lr_scaling)
        warmup = (config.warmup_steps if config.warmup_steps is not None
                  else schedules.to_steps(epochs=config.warmup_epochs,
                                          steps_per_epoch=spe))
        cycle = (None if config.cycle_epochs is None else
                 schedules.to_steps(epochs=config.cycle_epochs,
                                    steps_per_epoch=spe))
        schedule = schedules.build_schedule(
            peak, total_steps=total, steps_per_epoch=spe, warmup_steps=warmup,
            warmup=config.warmup, warmup_start_lr=config.warmup_start_lr,
            decay=config.lr_decay, end_lr=config.end_lr,
            poly_power=config.poly_power,
            step_boundaries_epochs=config.boundaries(),
            step_factor=config.step_factor, cycle_steps=cycle,
            cycle_start=config.cycle_start,
            cosine_granularity=config.cosine_granularity,
            coarse_epochs=config.coarse_epochs)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"learning-rate schedule: {e}") from None
    return peak, schedule


def build_optimizer(config: Config, learning_rate):
    """The optimizer the config names, through the optimizers' factory."""
    try:
        return optimizers.build_optimizer(
            config.optimizer, learning_rate, momentum=config.momentum,
            nesterov=config.nesterov, weight_decay=config.weight_decay,
            beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon,
            lars_eeta=config.lars_eeta, lars_epsilon=config.lars_epsilon,
            lars_clip=config.lars_clip,
            layerwise=config.layerwise, trust_ratio_bounds=config.bounds(),
            exclude_from_weight_decay=config.patterns(
                config.exclude_from_weight_decay),
            exclude_from_adaptation=config.patterns(
                config.exclude_from_adaptation),
            exclude_vectors=config.exclude_vectors)
    except ValueError as e:
        raise ConfigError(f"--optimizer={config.optimizer}: {e}") from None


def _print_exclusions(optimizer):
    report = getattr(optimizer, "print_exclusions", None)
    if report is None:
        print(f"{type(optimizer).__name__} has no weight-decay or adaptation "
              f"exclusions", flush=True)
    else:
        report()


def _current_lr(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def run(config: Config, strategy=None) -> dict:
    """Trains and evaluates as ``config`` says; returns the results dict.

    ``strategy`` defaults to the one the config names; the command line
    builds it before importing Keras (see main.py).
    """
    config.validate()
    start_time = time.time()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    # --- hardware ----------------------------------------------------------
    if strategy is None:
        strategy = distribute.build_strategy(config.strategy, config.tpu,
                                             config.num_cpu_replicas)
    if not distribute.is_chief(strategy):
        # Every worker must take part in saving; only the chief's files count.
        config = dataclasses.replace(config, model_dir=os.path.join(
            config.model_dir, f"worker{distribute.task_id(strategy)}"))

    # --- data (validated before anything is written) -----------------------
    crop_area_range, crop_aspect_range = config.crop_ranges()
    source = data_registry.build_source(
        config.dataset, config.data_dir, config.validation_examples,
        config.augment, config.image_size, crop_area_range=crop_area_range,
        crop_aspect_range=crop_aspect_range, label_offset=config.label_offset,
        cache_records=config.cache_records,
        shuffle_buffer=config.shuffle_buffer)
    plan = make_plan(config, source.info.num_train,
                     strategy.num_replicas_in_sync)
    layout = plan.layout
    build_optimizer(config, plan.schedule)  # validate flags before writing
    bn_span = model_registry.bn_span_of(config, layout)
    precision = set_precision(config, strategy, bn_span, layout)
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

    # --- model and optimizer -----------------------------------------------
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        try:
            model = model_registry.build_model(config.model, source.info,
                                               config, layout)
        except ValueError as e:  # BN span / group that the layout cannot hold
            raise ConfigError(f"--model={config.model}: {e}") from None
        optimizer = build_optimizer(config, plan.schedule)
        if precision == "mixed_float16":
            # float16 gradients underflow without it (Micikevicius et al.
            # 2018); Keras's dynamic loss scaling, which steps.py honours.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    if config.print_exclusions:
        _print_exclusions(optimizer)
    previous = read_json(os.path.join(config.model_dir, RESULTS_FILE)) or {}
    probes = Probes(config.probes(), strategy, model,
                    getattr(optimizer, "inner_optimizer", optimizer), layout,
                    previous.get("telemetry") if resuming else None)
    steps = StepFunctions(
        strategy, model, optimizer, layout,
        loss_fn=functools.partial(per_example_cross_entropy,
                                  label_smoothing=config.label_smoothing),
        eval_loss_fn=per_example_cross_entropy,
        clip_global_norm=config.clip_global_norm, clip_norm=config.clip_norm,
        measure_gradients=probes.measure_gradients,
        jit_compile=config.jit_compile)

    # --- checkpoint ----------------------------------------------------------
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
        print(f"resuming {config.model_dir} at step {step}", flush=True)

    # --- input ---------------------------------------------------------------
    seed = config.seed
    train_iter = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed, start_step=step)))
    eval_iters = {split: iter(strategy.distribute_datasets_from_function(
        lambda ctx, s=split: source.eval_dataset(ctx, layout, s).repeat()))
        for split in source.eval_splits}

    telemetry = Telemetry(config.model_dir, plan.total_steps, layout.global_batch)
    results = {
        "status": "running", "diverged_step": None,
        "config": config.to_dict(), "global_batch_size": layout.global_batch,
        "num_train_examples": plan.num_train, "total_steps": plan.total_steps,
        "step_layout": dataclasses.asdict(layout),
        "peak_learning_rate": plan.peak_lr,
        "num_replicas": strategy.num_replicas_in_sync,
        "strategy": type(strategy).__name__, "bn_span": bn_span,
        "precision": precision, "jit_compile": config.jit_compile,
        # Evaluations after the restored step belong to the lost future.
        "history": [h for h in previous.get("history", [])
                    if resuming and h["step"] <= step],
        "versions": versions(), "machine": machine(),
    }
    results_path = os.path.join(config.model_dir, RESULTS_FILE)

    def evaluate():
        metrics = {}
        for split, iterator in eval_iters.items():
            n = eval_steps(source.eval_splits[split], layout)
            loss, correct, top5, count = steps.eval_loop(
                iterator, tf.constant(n)).numpy()
            split_metrics = {"loss": loss / count, "accuracy": correct / count,
                             "top5_accuracy": top5 / count}
            telemetry.eval_done(step, plan.epoch(step), split, split_metrics)
            prefix = "eval" if split == "test" else split
            metrics.update({f"{prefix}_{k}": float(v)
                            for k, v in split_metrics.items()})
        return metrics

    def save_results(status, metrics, train_loss):
        results["telemetry"] = probes.results()
        results.update(status=status, steps=step,
                       epochs_completed=plan.epoch(step),
                       wall_time_s=time.time() - start_time + previous.get(
                           "wall_time_s", 0.0) * resuming)
        results["metrics"] = dict(metrics, train_loss=train_loss)
        write_json_atomic(results_path, results)

    # --- loop ----------------------------------------------------------------
    metrics = previous.get("metrics", {}) if resuming else {}
    train_loss = metrics.get("train_loss", float("nan"))
    best_loss = previous.get("best_train_loss", float("inf")) if resuming else float("inf")
    status = "running"
    mlperf.init_stop_run_start()
    block_open = False
    with PreemptionWatcher() as watcher:
        while step < plan.total_steps:
            next_eval = plan.next_eval(step)
            if not block_open:
                first_epoch = math.floor(plan.epoch(step))
                mlperf.block_start(first_epoch, math.ceil(
                    plan.epoch(next_eval)) - first_epoch)
                block_open = True
            boundary = next_eval
            if config.checkpoint_every_steps:
                every = config.checkpoint_every_steps
                boundary = min(boundary, (step // every + 1) * every)
            n = min(config.steps_per_loop, boundary - step)
            tic = time.time()
            loss_sum, done, bad, small_sq, big_sq = steps.train_loop(
                train_iter, tf.constant(n))
            done, bad = int(done), int(bad)
            seconds = time.time() - tic
            step += done
            if bad >= 0:
                status = "diverged"
                print(f"diverged at step {step}: non-finite loss", flush=True)
                break
            train_loss = float(loss_sum) / done
            telemetry.train_loop_done(step, plan.epoch(step), train_loss,
                                      _current_lr(optimizer), done, seconds)
            probes.after_loop(step, done, float(small_sq), float(big_sq),
                              telemetry)
            best_loss = results["best_train_loss"] = min(best_loss, train_loss)
            if (config.unstable_factor is not None
                    and train_loss > config.unstable_factor * best_loss):
                status = "unstable"
                print(f"unstable at step {step}: loss {train_loss:.4g} > "
                      f"{config.unstable_factor} x best {best_loss:.4g}",
                      flush=True)
                break
            if step == next_eval:
                mlperf.block_stop(first_epoch)
                block_open = False
                metrics = evaluate()
                probes.at_eval(step, telemetry)
                mlperf.eval(plan.epoch(step), metrics["eval_accuracy"])
                results["history"].append(dict(
                    metrics, step=step, epoch=plan.epoch(step),
                    train_loss=train_loss))
            if step == next_eval or (config.checkpoint_every_steps and
                                     step % config.checkpoint_every_steps == 0):
                checkpointer.save(step)
                save_results("running", metrics, train_loss)
                telemetry.flush()
            if watcher.requested:
                checkpointer.save(step)
                status = "preempted"
                print(f"preempted by {watcher.requested} at step {step}; "
                      f"checkpoint saved", flush=True)
                break
    if status in ("diverged", "unstable"):
        results["diverged_step"] = step
    if status == "running":
        status = "completed"
        if not metrics:  # resumed a finished run: report its final numbers
            metrics = evaluate()
    if block_open:
        mlperf.block_stop(first_epoch)
    mlperf.run_stop(status)
    mlperf.close()
    save_results(status, metrics, train_loss)
    telemetry.flush()
    print(f"{status}: step {step} " + " ".join(
        f"{k} {v:.4f}" for k, v in sorted(metrics.items())), flush=True)
    return results
