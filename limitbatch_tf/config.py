"""One validated configuration for a training run.

The :class:`Config` dataclass is the single source of truth: the absl flags
of ``limitbatch_tf.main`` are generated from its fields, a ``--config`` YAML
file uses the same keys, and the resolved config is saved beside every run.
Precedence: field default < YAML file < command-line flag.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Optional

import yaml

from limitbatch_tf import dataset_sizes


from limitbatch_tf.errors import InputError


class ConfigError(InputError):
    """A flag or config key with a bad value; the message names it."""


# The names --dataset, --model and --optimizer accept: the one list each
# registry (data/registry.py, models/registry.py, optimizers/factory.py) is
# tested against (tests/test_config.py), kept here because this module
# imports no TensorFlow.
DATASETS = ("mnist", "fashion_mnist", "cifar10", "imagenet",
            "synthetic_imagenet", "synthetic_cifar10")
MODELS = ("lenet5", "lenet_tpu", "resnet50_v1_5", "resnet50_cifar",
          "softmax_regression", "mlp")
MODELS_WITH_BATCH_NORM = ("resnet50_v1_5", "resnet50_cifar")
# --telemetry's probe names (train/probes.py implements them).
PROBES = ("weight_distance", "trust_ratios", "grad_norm", "noise_scale",
          "noise_scale_layers")
OPTIMIZERS = ("sgd", "momentum", "lars", "lamb", "adam", "adagrad", "rmsprop",
              "keras_lamb")


def _field(default, help, choices=None, minimum=None, maximum=None,
           identity=True):
    """A Config field with its flag help and checks.

    ``identity=False`` marks settings that may change when a run resumes
    (where it runs, how often it reports) without changing its result.
    """
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, minimum=minimum, maximum=maximum,
        identity=identity))


@dataclasses.dataclass
class Config:
    """Every setting of a run. Field help strings are the flag reference."""

    # --- data
    dataset: str = _field("fashion_mnist", "Dataset name (synthetic_* are "
                          "random tensors for throughput).",
                          choices=DATASETS)
    data_dir: Optional[str] = _field(
        None, "Folder of the dataset's files (default: the dataset's "
        "standard location, e.g. /usr/share/datasets/fashion-mnist).",
        identity=False)
    validation_examples: int = _field(
        0, "Hold out the last N training examples as a validation split "
        "(5000 = the paper's 55K/5K MNIST split).", minimum=0)
    augment: bool = _field(
        True, "Random crop and flip of CIFAR-10 / ImageNet training images; "
        "--noaugment for exact full-batch gradient descent (ImageNet then "
        "trains on the evaluation center crop).")
    image_size: Optional[int] = _field(
        None, "Image side of imagenet and the synthetic datasets (default: "
        "224 / 32).", minimum=8)
    # --- ImageNet input
    crop_area_range: str = _field(
        "0.08,1.0", "min,max fraction of the image area the ImageNet "
        "training crop covers (TPU reference 0.08,1.0; MLPerf 0.05,1.0).")
    crop_aspect_range: str = _field(
        "0.75,1.33", "min,max width/height aspect ratio of the ImageNet "
        "training crop.")
    label_offset: int = _field(
        1, "Subtracted from image/class/label of ImageNet TFRecords (1: the "
        "TPU layout's labels 1..1000 become 0..999).", minimum=0)
    cache_records: Optional[bool] = _field(
        None, "Keep ImageNet's raw (undecoded) records in memory after the "
        "first pass; file order is then no longer reshuffled per epoch. "
        "Unset: on for full batch when this host's share of the training "
        "files fits in half its available memory.",
        # Not part of a run's identity: runs saved before the unset default
        # hold False, and caching changes only the file order of epochs.
        identity=False)
    shuffle_buffer: int = _field(
        10000, "ImageNet's training shuffle: each block of this many "
        "consecutive records is permuted (0 or 1: none).", minimum=0)
    # --- model
    model: str = _field("lenet5", "Model name.", choices=MODELS)
    lenet_conv2_filters: int = _field(
        32, "Filters of lenet_tpu's second convolution (64 = the pre-2019 "
        "TPU reference).", minimum=1)
    bn: str = _field(
        "local", "Batch norm of the ResNets: local (per replica), ghost "
        "(--ghost_batch_size within a replica), grouped (--bn_group_size "
        "replicas), sync (all replicas).",
        choices=("local", "ghost", "grouped", "sync"))
    bn_span: Optional[int] = _field(
        None, "Examples per BN statistic (MLPerf's BN span); picks ghost or "
        "grouped BN from the step layout. Overrides --bn.", minimum=1)
    ghost_batch_size: Optional[int] = _field(None, "Ghost batch size of "
                                             "--bn=ghost.", minimum=1)
    bn_group_size: Optional[int] = _field(None, "Replicas per BN group of "
                                          "--bn=grouped.", minimum=1)
    bn_momentum: float = _field(0.9, "BN moving-average momentum.",
                                minimum=0.0, maximum=1.0)
    bn_epsilon: float = _field(1e-5, "BN epsilon.", minimum=0.0)
    zero_init_last_bn_gamma: bool = _field(
        True, "Zero-initialise gamma of each residual block's last BN.")
    # --- batch and duration
    batch_size: str = _field(
        "256", "Global batch size: a number of examples per update step, or "
        "'full' for the whole training set.")
    micro_batch_size: Optional[int] = _field(
        None, "Per-replica examples per micro-batch; gradients of "
        "batch_size / (replicas * micro_batch_size) micro-batches are "
        "accumulated into one update step.", minimum=1)
    pad_batches: bool = _field(
        False, "Allow a batch size that does not divide into replicas x "
        "micro-batches; the rest is padded with zero-weight examples "
        "(always on for --batch_size=full).")
    replica_batch_limit: Optional[int] = _field(
        None, "Examples one replica may hold per pass; with "
        "--micro_batch_size unset, a larger per-replica batch is split into "
        "the largest micro-batches that fit, divide it and tile the BN span "
        "(default: the model's; resnet50_v1_5: 256 at 224 px, a TPU v3 "
        "core; none for the others).", minimum=1, identity=False)
    epochs: float = _field(30.0, "Training epochs (passes over the training "
                           "set).", minimum=0.0)
    train_steps: Optional[int] = _field(
        None, "Training length in update steps; overrides --epochs.",
        minimum=1)
    # --- optimizer
    optimizer: str = _field(
        "momentum", "Optimizer (keras_lamb = keras.optimizers.Lamb, for "
        "comparison).", choices=OPTIMIZERS)
    learning_rate: float = _field(
        0.05, "Base learning rate at --base_batch_size; the peak learning "
        "rate is this scaled by --lr_scaling.", minimum=0.0)
    momentum: float = _field(0.9, "Momentum coefficient.", minimum=0.0,
                             maximum=0.999999)
    nesterov: bool = _field(False, "Use Nesterov momentum.")
    weight_decay: float = _field(
        0.0, "L2 weight decay coupled into the gradient (g + wd*w), as in "
        "the papers; variables of rank <= 1 are excluded.", minimum=0.0)
    beta_1: float = _field(0.9, "First-moment decay of adam/lamb.",
                           minimum=0.0, maximum=0.999999)
    beta_2: float = _field(0.999, "Second-moment decay of adam/lamb.",
                           minimum=0.0, maximum=0.999999)
    epsilon: Optional[float] = _field(
        None, "Epsilon of adam/lamb/adagrad/rmsprop (default: the "
        "optimizer's own).", minimum=0.0)
    lars_eeta: float = _field(1e-3, "LARS trust coefficient (also of "
                              "layer-wise sgd/momentum).", minimum=0.0)
    lars_epsilon: float = _field(0.0, "LARS denominator epsilon.", minimum=0.0)
    lars_clip: bool = _field(
        False, "LARS with NVIDIA apex LARC's clip mode: each layer's rate is "
        "min(trust ratio, learning rate) instead of trust ratio x learning "
        "rate (--optimizer=lars only).")
    layerwise: bool = _field(False, "Wrap sgd/momentum/adam/adagrad/rmsprop "
                             "in the layer-wise trust ratio (Table 3).")
    trust_ratio_bounds: Optional[str] = _field(
        None, "lo,hi bounds of the trust ratio for lamb or --layerwise "
        "(Table 3's bound-ratio).")
    exclude_from_weight_decay: Optional[str] = _field(
        None, "Comma-separated regexes on variable paths excluded from "
        "weight decay (in addition to rank <= 1).")
    exclude_from_adaptation: Optional[str] = _field(
        None, "Comma-separated regexes on variable paths excluded from the "
        "trust ratio (in addition to rank <= 1).")
    exclude_vectors: bool = _field(
        True, "Exclude variables of rank <= 1 (biases, BN gamma/beta) from "
        "weight decay and the trust ratio (MLPerf); --noexclude_vectors "
        "adapts and decays them like the kernels.")
    print_exclusions: bool = _field(False, "Print which variables each "
                                    "exclusion rule matched.", identity=False)
    # --- learning-rate recipe (section 3.1, appendix 6.5)
    lr_scaling: str = _field("none", "Peak LR = learning_rate * (B/B0) "
                             "(linear) or * sqrt(B/B0) (sqrt).",
                             choices=("none", "linear", "sqrt"))
    base_batch_size: int = _field(256, "B0 of the LR scaling rule.", minimum=1)
    warmup_epochs: float = _field(0.0, "Warmup length in epochs.", minimum=0.0)
    warmup_steps: Optional[int] = _field(
        None, "Warmup length in update steps; overrides --warmup_epochs.",
        minimum=0)
    warmup: str = _field("linear", "Warmup shape.", choices=("linear", "cosine"))
    warmup_start_lr: float = _field(0.0, "Learning rate at step 0 of the "
                                    "warmup.", minimum=0.0)
    lr_decay: str = _field("constant", "Decay after the warmup.",
                           choices=("constant", "cosine", "poly", "step",
                                    "cyclical"))
    end_lr: float = _field(0.0, "Final LR of cosine/poly, minimum of cyclical "
                           "(MLPerf poly: 1e-4).", minimum=0.0)
    poly_power: Optional[float] = _field(None, "Power of the poly decay "
                                         "(default 2, MLPerf).", minimum=0.0)
    step_boundaries_epochs: Optional[str] = _field(
        None, "Comma-separated epochs where the step decay multiplies the LR "
        "by --step_factor, e.g. 30,60,80.")
    step_factor: Optional[float] = _field(None, "Multiplier per step-decay "
                                          "boundary (default 0.1).",
                                          minimum=0.0)
    cycle_epochs: Optional[float] = _field(None, "Cycle length of the "
                                           "cyclical LR, in epochs.",
                                           minimum=0.0)
    cycle_start: str = _field("min", "Where the cyclical LR starts.",
                              choices=("min", "max"))
    cosine_granularity: str = _field(
        "step", "Cosine evaluated per step (fine-grained), per epoch "
        "(regular) or per --coarse_epochs (coarse-grained).",
        choices=("step", "epoch", "coarse"))
    coarse_epochs: Optional[float] = _field(None, "Block length of the "
                                            "coarse-grained cosine.",
                                            minimum=0.0)
    label_smoothing: float = _field(0.0, "Label smoothing of the training "
                                    "loss (evaluation loss is unsmoothed).",
                                    minimum=0.0, maximum=0.999)
    clip_global_norm: Optional[float] = _field(
        None, "Clip the all-reduced gradient to this global norm.",
        minimum=0.0)
    clip_norm: Optional[float] = _field(
        None, "Clip each all-reduced gradient tensor to this norm.",
        minimum=0.0)
    # --- run
    tag: Optional[str] = _field(
        None, "Free label stored with the results, e.g. the ladder rung "
        "(msgd, warmup, tuned, label_smoothing, lars); read by the analysis "
        "tools.", identity=False)
    seed: int = _field(0, "Random seed of initialisation and data order.")
    model_dir: Optional[str] = _field(
        None, "Folder for checkpoints, TensorBoard events and results.json "
        "(default: runs/<dataset>-<model>-<optimizer>-b<batch>-s<seed>). A "
        "run resumes from the latest checkpoint found there.",
        identity=False)
    overwrite: bool = _field(False, "Delete an existing run in --model_dir "
                             "instead of resuming it.", identity=False)
    # --- hardware and loop
    strategy: str = _field(
        "auto", "tf.distribute strategy.", identity=False,
        choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"))
    tpu: Optional[str] = _field(None, "TPU name or grpc:// address "
                                "('pod' style names as in the MLPerf "
                                "reference), or 'local' for the chips of "
                                "this Cloud TPU VM.", identity=False)
    tpu_init_timeout: float = _field(
        900.0, "Seconds TPU initialisation may take before the run exits "
        "with one line (status 2); large pods take minutes. 0: no limit.",
        minimum=0.0, identity=False)
    num_cpu_replicas: int = _field(
        1, "Split the CPU into N logical devices and mirror over them "
        "(tests the distributed paths without accelerators).", minimum=1,
        identity=False)
    steps_per_loop: int = _field(
        50, "Training steps run inside one tf.function call (the MLPerf "
        "host loop).", minimum=1, identity=False)
    precision: str = _field(
        "auto", "Keras dtype policy: float32, mixed_bfloat16 or mixed_float16 "
        "(float16 adds dynamic loss scaling); auto = mixed_bfloat16 on TPU, "
        "float32 elsewhere. Variables, BN statistics, logits and the loss "
        "stay float32.", choices=("auto", "float32", "mixed_bfloat16",
                                  "mixed_float16"))
    jit_compile: bool = _field(
        False, "XLA-compile each replica's forward and backward pass on "
        "CPU/GPU (TPU steps are always XLA-compiled). Not with cross-replica "
        "BN groups: their all-reduce runs outside XLA.", identity=False)
    eval_every_epochs: float = _field(
        1.0, "Evaluate (and, without --checkpoint_every_epochs, checkpoint) "
        "every this many epochs.", minimum=1e-9, identity=False)
    checkpoint_every_steps: Optional[int] = _field(
        None, "Also checkpoint every N update steps (default: only at "
        "evaluations and at the end).", minimum=1, identity=False)
    checkpoint_every_epochs: Optional[float] = _field(
        None, "Checkpoint every this many epochs instead of at each "
        "evaluation (an ImageNet checkpoint is ~200 MB; MLPerf evaluates "
        "every 4 epochs without one). Evaluations still write results.json; "
        "a resumed run restarts from the last checkpoint. (TensorFlow's "
        "async checkpointer fails on Keras 3 variables: docs/recipes.md.)",
        minimum=1e-9,
        identity=False)
    deterministic: bool = _field(
        False, "tf.config.experimental.enable_op_determinism(): bitwise "
        "reproducible runs and resumes, at some speed cost.", identity=False)
    telemetry: Optional[str] = _field(
        None, "Comma-separated extra measurements: weight_distance, "
        "trust_ratios, grad_norm, noise_scale, noise_scale_layers (the "
        "noise scale per trainable variable too; see train/probes.py).",
        identity=False)
    # --- divergence
    on_divergence: str = _field(
        "record", "When the loss becomes NaN/Inf (or the run is unstable): "
        "'record' stops, writes status and step to results.json and exits 0; "
        "'fail' does the same and exits 4.", choices=("record", "fail"),
        identity=False)
    unstable_factor: Optional[float] = _field(
        None, "Label the run 'unstable' and stop when a host loop's mean "
        "loss exceeds this many times the best one so far (off by default).",
        minimum=1.0)
    # --- time to train (MLPerf)
    target_accuracy: Optional[float] = _field(
        None, "Stop at the first evaluation whose top-1 accuracy on "
        "--target_split reaches this: status target_reached, and results.json "
        "records the steps, epochs, examples and seconds to target (MLPerf's "
        "time to train). Off by default.", minimum=0.0, maximum=1.0)
    target_split: Optional[str] = _field(
        None, "The eval split --target_accuracy is read on (default: "
        "validation when the run holds one out, else test).",
        choices=("validation", "test"))
    eval_offset_epochs: float = _field(
        0.0, "Shift the evaluation grid: evaluate at epochs offset + k x "
        "--eval_every_epochs, k = 0, 1, ... (none at epoch 0), and at the "
        "end; MLPerf offsets its first evaluation so.", minimum=0.0,
        identity=False)

    # ------------------------------------------------------------------
    @classmethod
    def field_specs(cls):
        """(name, type, default, metadata) of every field, in order."""
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield f.name, _base_type(hints[f.name]), f.default, f.metadata

    def resolved_precision(self, on_tpu: bool) -> str:
        """--precision with auto resolved for the hardware."""
        if self.precision != "auto":
            return self.precision
        return "mixed_bfloat16" if on_tpu else "float32"

    def identity(self) -> dict:
        """The settings that define a run's result (checked on resume)."""
        return {name: getattr(self, name)
                for name, _, _, meta in self.field_specs() if meta["identity"]}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Checks every field; raises ConfigError naming the first bad flag."""
        for name, typ, _, meta in self.field_specs():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise ConfigError(f"--{name}: expected {typ.__name__}, got "
                                  f"{value!r}")
            if meta["choices"] and value not in meta["choices"]:
                raise ConfigError(f"--{name}={value} is not one of "
                                  f"{', '.join(meta['choices'])}")
            if meta["minimum"] is not None and value < meta["minimum"]:
                raise ConfigError(f"--{name}={value} must be >= {meta['minimum']}")
            if meta["maximum"] is not None and value > meta["maximum"]:
                raise ConfigError(f"--{name}={value} must be <= {meta['maximum']}")
        if self.batch_size != "full":
            try:
                batch = int(self.batch_size)
            except ValueError:
                raise ConfigError(f"--batch_size={self.batch_size}: expected a "
                                  f"positive integer or 'full'") from None
            if batch < 1:
                raise ConfigError(f"--batch_size={batch} must be >= 1")
            too_large = dataset_sizes.check_batch_size(batch, self.dataset)
            if too_large:  # before any data is read (dataset_sizes.py)
                raise ConfigError(too_large)
        if self.strategy == "one_device" and self.num_cpu_replicas > 1:
            raise ConfigError(f"--num_cpu_replicas={self.num_cpu_replicas} "
                              f"needs --strategy=mirrored or auto")
        if self.step_boundaries_epochs is not None:
            self.boundaries()
        self.crop_ranges()
        self.check_applies()
        self.bounds()
        self.probes()
        if self.bn == "ghost" and self.ghost_batch_size is None and self.bn_span is None:
            raise ConfigError("--bn=ghost needs --ghost_batch_size (or --bn_span)")
        if self.bn == "grouped" and self.bn_group_size is None and self.bn_span is None:
            raise ConfigError("--bn=grouped needs --bn_group_size (or --bn_span)")
        return self

    def check_applies(self) -> None:
        """Refuses a flag set away from its default where it has no effect.

        The one place that decides it (``APPLIES_TO``); the optimizer and
        schedule factories trust a validated Config.
        """
        for name, rule in APPLIES_TO.items():
            if getattr(self, name) != _DEFAULTS[name] and not rule.holds(self):
                here = ", ".join(f"--{n}={getattr(self, n)}" for n in rule.on)
                raise ConfigError(f"--{name} applies to {rule.where} only"
                                  f"{rule.why} (here {here})")

    def boundaries(self):
        """--step_boundaries_epochs as a tuple of floats."""
        if self.step_boundaries_epochs is None:
            return ()
        try:
            return tuple(float(x) for x in self.step_boundaries_epochs.split(","))
        except ValueError:
            raise ConfigError(
                f"--step_boundaries_epochs={self.step_boundaries_epochs}: "
                f"expected comma-separated epochs, e.g. 30,60,80") from None

    def crop_ranges(self):
        """(--crop_area_range, --crop_aspect_range) as two (lo, hi) tuples."""
        ranges = []
        for name, top in (("crop_area_range", 1.0),
                          ("crop_aspect_range", float("inf"))):
            value = getattr(self, name)
            try:
                lo, hi = (float(x) for x in value.split(","))
            except ValueError:
                raise ConfigError(f"--{name}={value}: expected min,max e.g. "
                                  f"{_DEFAULTS[name]}") from None
            if not 0 < lo <= hi <= top:
                bound = "1" if top == 1.0 else "inf"
                raise ConfigError(f"--{name}={value}: expected 0 < min <= max "
                                  f"<= {bound}")
            ranges.append((lo, hi))
        return tuple(ranges)

    def bounds(self):
        """--trust_ratio_bounds as (lo, hi) or None."""
        if self.trust_ratio_bounds is None:
            return None
        try:
            lo, hi = (float(x) for x in self.trust_ratio_bounds.split(","))
        except ValueError:
            raise ConfigError(
                f"--trust_ratio_bounds={self.trust_ratio_bounds}: expected "
                f"lo,hi e.g. 0.01,10") from None
        if not 0 <= lo <= hi:
            raise ConfigError(f"--trust_ratio_bounds={self.trust_ratio_bounds}"
                              f": expected 0 <= lo <= hi")
        return lo, hi

    def probes(self):
        """--telemetry as a tuple of probe names."""
        names = tuple(n for n in (self.telemetry or "").split(",") if n)
        for name in names:
            if name not in PROBES:
                raise ConfigError(f"--telemetry: unknown probe '{name}'; "
                                  f"expected some of {', '.join(PROBES)}")
        if "noise_scale_layers" in names and "noise_scale" not in names:
            names += ("noise_scale",)  # the per-variable split needs the total
        return names

    @staticmethod
    def patterns(value):
        """A comma-separated regex flag as a list, or None."""
        return None if value is None else [p for p in value.split(",") if p]

    def default_model_dir(self) -> str:
        return (f"runs/{self.dataset}-{self.model}-{self.optimizer}-"
                f"b{self.batch_size}-s{self.seed}")


IMAGENET_FLAGS = ("crop_area_range", "crop_aspect_range", "label_offset",
                  "cache_records", "shuffle_buffer")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}


@dataclasses.dataclass(frozen=True)
class AppliesTo:
    """Where a flag has an effect: ``holds(config)``, said as ``where``
    (and ``why``); ``on`` names the flags that decide it (quoted in the
    error)."""
    where: str
    holds: typing.Callable[[Config], bool]
    on: tuple
    why: str = ""


def _one_of(flag: str, values: tuple, why: str = "") -> AppliesTo:
    words = values[0] if len(values) == 1 else (
        f"{', '.join(values[:-1])} or {values[-1]}")
    return AppliesTo(f"--{flag}={words}",
                     lambda c: getattr(c, flag) in values, (flag,), why)


_OPTIMIZERS_WITH_EPSILON = ("lamb", "adam", "adagrad", "rmsprop", "keras_lamb")
_LAYERWISE_WRAPPABLE = ("sgd", "momentum", "adam", "adagrad", "rmsprop")
_DECIDED_BY_OPTIMIZER = ("optimizer", "layerwise")

# Flag -> where it applies. A flag set away from its default elsewhere is
# refused by Config.check_applies, so no flag is silently ignored.
APPLIES_TO = {
    **{name: _one_of("dataset", ("imagenet",)) for name in IMAGENET_FLAGS},
    "lenet_conv2_filters": _one_of("model", ("lenet_tpu",)),
    "bn": _one_of("model", MODELS_WITH_BATCH_NORM,
                  ": the others have no batch norm"),
    "bn_span": _one_of("model", MODELS_WITH_BATCH_NORM,
                       ": the others have no batch norm"),
    # Optimizers: You et al. 2020, Table 3; optimizers/factory.py's table.
    "momentum": _one_of("optimizer", ("momentum", "lars")),
    "nesterov": _one_of("optimizer", ("momentum", "lars")),
    "beta_1": _one_of("optimizer", ("adam", "lamb", "keras_lamb")),
    "beta_2": _one_of("optimizer", ("adam", "lamb", "keras_lamb")),
    "epsilon": _one_of("optimizer", _OPTIMIZERS_WITH_EPSILON,
                       ": LARS uses --lars_epsilon"),
    "lars_epsilon": _one_of("optimizer", ("lars",)),
    "lars_clip": _one_of("optimizer", ("lars",)),
    "layerwise": _one_of("optimizer", _LAYERWISE_WRAPPABLE,
                         ": lars and lamb are layer-wise already"),
    "lars_eeta": AppliesTo(
        "--optimizer=lars and to --layerwise sgd/momentum",
        lambda c: c.optimizer == "lars" or (
            c.layerwise and c.optimizer in ("sgd", "momentum")),
        _DECIDED_BY_OPTIMIZER),
    "trust_ratio_bounds": AppliesTo(
        "--optimizer=lamb and to --layerwise",
        lambda c: c.optimizer == "lamb" or c.layerwise, _DECIDED_BY_OPTIMIZER),
    "exclude_from_adaptation": AppliesTo(
        "--optimizer=lars or lamb and to --layerwise",
        lambda c: c.optimizer in ("lars", "lamb") or c.layerwise,
        _DECIDED_BY_OPTIMIZER, ": it excludes variables from the trust ratio"),
    "exclude_from_weight_decay": AppliesTo(
        "--optimizer=" + ", ".join(o for o in OPTIMIZERS if o != "keras_lamb"),
        lambda c: c.optimizer != "keras_lamb", ("optimizer",),
        ": keras.optimizers.Lamb has no exclusions"),
    "exclude_vectors": AppliesTo(
        "--optimizer=lars or lamb, --layerwise or --weight_decay > 0 (not "
        "keras_lamb)",
        lambda c: c.optimizer != "keras_lamb" and (
            c.optimizer in ("lars", "lamb") or c.layerwise
            or c.weight_decay > 0),
        ("optimizer", "layerwise", "weight_decay"),
        ": it changes only weight decay and the trust ratio"),
    # Learning-rate decays: schedules/factory.py's table.
    "end_lr": _one_of("lr_decay", ("cosine", "poly", "cyclical")),
    "poly_power": _one_of("lr_decay", ("poly",)),
    "step_boundaries_epochs": _one_of("lr_decay", ("step",)),
    "step_factor": _one_of("lr_decay", ("step",)),
    "cycle_epochs": _one_of("lr_decay", ("cyclical",)),
    "cycle_start": _one_of("lr_decay", ("cyclical",)),
    "cosine_granularity": _one_of("lr_decay", ("cosine",)),
    "coarse_epochs": AppliesTo(
        "--lr_decay=cosine with --cosine_granularity=coarse",
        lambda c: c.lr_decay == "cosine" and c.cosine_granularity == "coarse",
        ("lr_decay", "cosine_granularity")),
}


def _base_type(hint):
    """int for Optional[int], etc."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _coerce(name, typ, value):
    if value is None or isinstance(value, typ):
        return value
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"--{name}: expected {typ.__name__}, got {value!r}")


def unknown_key_error(key: str, source: str) -> ConfigError:
    names = [n for n, *_ in Config.field_specs()]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{source}: unknown key '{key}'{hint}")


def from_mapping(values: dict, source: str, base: Optional[Config] = None
                 ) -> Config:
    """A Config from ``base`` (or the defaults) updated by a key -> value map."""
    config = dataclasses.replace(base) if base else Config()
    specs = {name: typ for name, typ, _, _ in Config.field_specs()}
    for key, value in values.items():
        if key not in specs:
            raise unknown_key_error(key, source)
        setattr(config, key, _coerce(key, specs[key], value))
    return config


def load_yaml(path: str) -> dict:
    """Reads a --config YAML file of flag-name keys."""
    try:
        with open(path) as f:
            values = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"--config={path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"--config={path}: not valid YAML ({e})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"--config={path}: expected a mapping of flag names "
                          f"to values")
    return values
