"""find_limit: an adaptive search for B_L and B_H (no TensorFlow import).

You et al. (2020), Definitions 2.1-2.2: B_L is the smallest batch size at
which the baseline recipe with the linearly scaled LR (lr0 * B / B0) misses
99.5% of the baseline's accuracy A or 1.2 times its validation loss xi
within rho epochs; B_H the largest at which some technique still reaches
99.5% A. An exhaustive map runs every batch size x LR x seed; this search
runs a fraction of it:

1. Baseline: ``baseline_seeds`` runs at B0 with the recipe's LR give the
   bars (analysis/stats.py's Target: the bar's own standard error counts).
2. B_L: a search on the power-of-2 grid for the first failure of linear
   scaling, starting at the forecast (or a given batch size): exponential
   steps (x2, x4, ...) away from the start until the verdict flips, then
   bisection until the bracket (lo, hi] spans a factor 2.
3. B_H: the same on the verdict "the best tuned LR reaches 99.5% A",
   starting above B_L's bracket. The LR is tuned per batch size by
   successive halving (Jamieson & Talwalkar 2016; Li et al. 2018,
   Hyperband): every candidate LR (the linearly scaled LR times each of
   ``lr_factors``) runs a fraction 2^-(K-r) of the epochs at rung r (K the
   number of halvings, e.g. 5 LRs: 5 at rho/4, 2 at rho/2); only the
   better half by validation accuracy continues, so hopeless (diverged,
   slow) LRs stop early; the last one runs the full rho epochs, and that
   run is the verdict's first seed (its test accuracy comes from the run
   validation picked, a small optimistic bias where a verdict rests on
   one seed; the regime map's picks share it).
   A rung runs as its own trial with --epochs reduced (the main job's
   --epochs defines the LR schedule, so a shortened run is the recipe's
   schedule compressed: a ranking proxy, as in Hyperband).
   A pick at an end of the candidates that does not pass is only a lower
   bound, so the candidates grow past that end (``_past_edge``).
4. Seeds: every verdict starts with one seed (its noise borrowed from the
   baseline's seeds) and adds seeds, up to ``max_seeds``, only while
   stats.judge says "undecided". Adding seeds and testing again is a
   sequential test: at the stated confidence c on every look, a cell
   exactly on the bar is decided wrongly ~20% of the time each way over 5
   looks (simulated: 3 baseline seeds, equal spreads), not 1 - c = 10%.
   So each look tests at ``look_confidence`` = 1 - (1 - c) / (1 + (K -
   1) / 2) for K = max_seeds looks (96.7% for c = 90%, K = 5: about
   Pocock's constant per-look level for 5 looks, between no correction
   and Bonferroni's (1 - c) / K); the same simulation then gives ~6% each
   way (tests/forecast/test_search.py pins it below 1 - c). A verdict still
   undecided at ``max_seeds`` counts as not passing for navigation and is
   reported as undecided (stats.brackets); the sizes above it are then
   judged until one decidedly fails (or passes, and the search goes on
   from there), so every reported bracket closes on a decided verdict.
5. Stop when both brackets span a factor 2 (or reach the grid's end) or
   the next trial would exceed the budget.

Compute is counted in trial-epochs and CPU-seconds (the trainer's). A
ledger (``find_limit.json`` in the store) records every finished trial;
rerunning the same search replays the ledger instead of training again, so
a killed search resumes where it stopped and repeats no finished trial.

The trainer is injected: ``trainer(spec) -> TrialResult`` (forecast/
main_job.py runs the main job into a results store; tests use a simulated
one). Trials that do not depend on each other (the baseline's seeds, one
successive-halving rung) go to the trainer together; a trainer with
``run_many(specs, parallel)`` runs them ``parallel`` at a time.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Callable, Optional

from limitbatch_tf.analysis import stats

LEDGER_FILE = "find_limit.json"
FINISHED = ("completed", "diverged", "unstable")
EDGE_STEPS = 2  # x2 LR steps past the candidates' ends (Search._past_edge)
# Settings a resumed search may change (the rest must match its ledger).
RESUMABLE = ("budget_s", "parallel", "start_batch")


@dataclasses.dataclass(frozen=True)
class TrialSpec:
    batch_size: int
    learning_rate: float  # the peak LR itself (no further scaling)
    seed: int
    epochs: float

    @property
    def key(self) -> str:
        return (f"batch_size={self.batch_size},learning_rate="
                f"{self.learning_rate!r},seed={self.seed},epochs={self.epochs!r}")


@dataclasses.dataclass
class TrialResult:
    status: str  # completed | diverged | unstable
    accuracy: Optional[float]  # test accuracy (the regime definitions' A)
    selection: Optional[float]  # validation accuracy (LR picks), else accuracy
    loss: Optional[float]  # validation loss, else test loss
    epochs: float
    cpu_s: float

    @property
    def ok(self) -> bool:
        return self.status == "completed" and self.accuracy is not None


class BudgetSpent(Exception):
    """The next trial would exceed the budget."""


@dataclasses.dataclass
class Settings:
    base_batch: int
    base_lr: float
    epochs: float  # rho
    max_batch: int
    budget_s: float
    start_batch: Optional[int] = None
    lr_factors: tuple = (0.125, 0.25, 0.5, 1.0, 2.0)
    baseline_seeds: int = 3
    max_seeds: int = 5
    confidence: float = 0.90
    parallel: int = 1  # independent trials at once (trainer.run_many)

    @property
    def look_confidence(self) -> float:
        """Each look's one-sided confidence (module doc, step 4)."""
        return 1 - (1 - self.confidence) / (1 + (self.max_seeds - 1) / 2)

    def grid(self) -> list:
        out, b = [], self.base_batch
        while b <= self.max_batch:
            out.append(b)
            b *= 2
        return out


def round_lr(lr: float) -> float:
    """6 significant digits: LRs name trial folders."""
    return float(f"{lr:.6g}")


class Search:
    """One find_limit search over a store; ``run()`` returns the summary."""

    def __init__(self, settings: Settings, trainer: Callable[[TrialSpec], TrialResult],
                 store: str, log=print, recipe: Optional[dict] = None):
        """``recipe``: what the trials share besides their spec (the main
        job's config identity); a ledger written for another is refused,
        since its results would be replayed as this recipe's."""
        self.s, self.trainer, self.store, self.log = settings, trainer, store, log
        self.recipe = recipe
        if settings.base_batch < 1 or settings.max_batch < 2 * settings.base_batch:
            raise ValueError(f"max batch {settings.max_batch} must be at least "
                             f"twice the base batch {settings.base_batch}")
        self.ledger = {}  # key -> (spec, result), finished trials
        self.replayed = self.ran = 0
        self.spent_s = self.spent_epochs = 0.0
        self.now_s = self.now_epochs = 0.0  # this invocation
        self.verdicts = {"b_l": {}, "b_h": {}}  # batch -> Verdict-like dict
        self.picks = {}  # batch -> chosen LR
        self.stopped = None
        self._seen = set()  # ledger keys run or replayed in this invocation
        self._load()

    # --- ledger ------------------------------------------------------------
    def _path(self):
        return os.path.join(self.store, LEDGER_FILE)

    def _load(self):
        try:
            with open(self._path()) as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except ValueError as e:
            raise ValueError(f"{self._path()}: malformed JSON ({e}); move it "
                             f"away to start the search afresh") from None
        # A ledger of another recipe, or searched under other settings, would
        # be replayed as this search's verdicts and compute: refused.
        saved, mine = data.get("recipe") or {}, self.recipe or {}
        changed = _changes(saved, mine, set(saved) | set(mine))
        if changed:
            raise ValueError(f"{self._path()} was written for a different "
                             f"recipe ({changed}); choose another --store")
        saved = data.get("settings") or {}
        mine = json.loads(json.dumps(dataclasses.asdict(self.s)))
        changed = _changes(saved, mine, (set(saved) & set(mine)) - set(RESUMABLE))
        if changed:
            raise ValueError(
                f"{self._path()} was searched with other settings ({changed}): "
                "its verdicts and compute would not be this search's; rerun "
                "with the same flags (only the budget, --parallel and the "
                "start may change) or choose another --store")
        # Every trial in the ledger was spent on this search, whether or not
        # the path replayed now visits it again (a search resumed after a
        # change to its rules may not): all of it counts.
        for row in data.get("trials", []):
            spec = TrialSpec(**row["spec"])
            result = TrialResult(**row["result"])
            self.ledger[spec.key] = (spec, result)
            self.spent_s += result.cpu_s
            self.spent_epochs += result.epochs

    def _save(self, summary=None):
        os.makedirs(self.store, exist_ok=True)
        data = {"settings": dataclasses.asdict(self.s), "recipe": self.recipe,
                "trials": [{"spec": dataclasses.asdict(sp),
                            "result": dataclasses.asdict(r)}
                           for sp, r in self.ledger.values()],
                "summary": summary}
        tmp = self._path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self._path())

    # --- trials ------------------------------------------------------------
    def _estimate_s(self, spec: TrialSpec) -> float:
        """CPU-seconds a trial will take: the largest cost of a finished
        trial of the same batch size and length, else epochs times the
        largest cost per epoch seen at its batch size, or at any batch size
        when it is new (B0, the smallest batch, runs first; the cost per
        epoch falls as larger batches use the hardware better). Diverged
        trials count only when nothing completed. The budget holds as long
        as this bounds the trial's cost; 0 before the first trial."""
        done = [(sp, r) for sp, r in self.ledger.values() if r.epochs > 0]
        if not done:
            return 0.0
        # A trial that diverged stopped after its start-up (~10 CPU-s of a
        # small one): its cost per epoch says nothing of a full run's.
        done = [(sp, r) for sp, r in done if r.ok] or done
        same = [(sp, r) for sp, r in done if sp.batch_size == spec.batch_size]
        exact = [r.cpu_s for sp, r in same if sp.epochs == spec.epochs]
        if exact:  # the same length at this batch: its own cost
            return max(exact)
        return max(r.cpu_s / r.epochs for _, r in same or done) * spec.epochs

    def trial(self, spec: TrialSpec) -> TrialResult:
        """``spec``'s result: replayed from the ledger, or trained (unless
        its estimated cost would exceed the budget: BudgetSpent)."""
        if self._replay(spec):
            return self.ledger[spec.key][1]
        if self.spent_s + self._estimate_s(spec) > self.s.budget_s:
            raise BudgetSpent(spec.key)
        result = self.trainer(spec)
        self._record(spec, result)
        return result

    def trials(self, specs) -> list:
        """Results of independent ``specs``. One at a time through
        ``trial``, or, with ``parallel`` > 1 and a trainer that has
        ``run_many``, all unfinished ones in one call that runs them
        ``parallel`` at a time; then those whose estimated cost fits the
        budget run and BudgetSpent follows for the rest."""
        if self.s.parallel < 2 or not hasattr(self.trainer, "run_many"):
            return [self.trial(spec) for spec in specs]
        fresh = [spec for spec in specs if not self._replay(spec)]
        pending, over, planned = [], None, self.spent_s
        for spec in fresh:
            if any(spec.key == p.key for p in pending):
                continue
            planned += self._estimate_s(spec)
            if planned > self.s.budget_s:
                over = spec
                break
            pending.append(spec)
        if pending:
            for spec, result in zip(pending, self.trainer.run_many(
                    pending, self.s.parallel)):
                self._record(spec, result)
        if over is not None:
            raise BudgetSpent(over.key)
        return [self.ledger[spec.key][1] for spec in specs]

    def _replay(self, spec: TrialSpec) -> bool:
        """True when ``spec`` is in the ledger (its cost is counted from
        the start: _load)."""
        if spec.key not in self.ledger:
            return False
        if spec.key not in self._seen:
            self._seen.add(spec.key)
            self.replayed += 1
        return True

    def _record(self, spec: TrialSpec, result: TrialResult) -> None:
        self.ledger[spec.key] = (spec, result)
        self._seen.add(spec.key)
        self.ran += 1
        self.spent_s += result.cpu_s
        self.spent_epochs += result.epochs
        self.now_s += result.cpu_s
        self.now_epochs += result.epochs
        self._save()
        self.log(f"trial {spec.key}: {result.status} acc "
                 f"{_fmt(result.accuracy)} sel {_fmt(result.selection)} "
                 f"({result.cpu_s:.0f} CPU-s; spent {self.spent_s:.0f}/"
                 f"{self.s.budget_s:.0f})")

    # --- verdicts ----------------------------------------------------------
    def _judge(self, batch: int, lr: float, with_loss: bool) -> dict:
        """Seeds added while undecided; the verdict as a dict."""
        seeds, verdict = 0, None
        while True:
            spec = TrialSpec(batch, lr, seeds, float(self.s.epochs))
            seeds += 1
            self.trial(spec)
            results = [self.ledger[TrialSpec(batch, lr, k, float(
                self.s.epochs)).key][1] for k in range(seeds)]
            accs = [r.accuracy if r.ok else None for r in results]
            acc = stats.judge(accs, self.acc_target, self.s.look_confidence)
            parts = [acc]
            if with_loss and self.loss_target is not None:
                losses = [r.loss if r.ok else None for r in results]
                if all(v is not None for v in losses):
                    parts.append(stats.judge(losses, self.loss_target,
                                             self.s.look_confidence))
            verdict = stats.combine(*parts)
            if verdict != "undecided" or seeds >= self.s.max_seeds:
                out = {"verdict": verdict, "learning_rate": lr, "seeds": seeds,
                       "accuracy": acc.describe(), "mean_accuracy": acc.mean}
                if len(parts) > 1:  # B_L: the loss bar can decide too
                    out["loss"] = parts[1].describe()
                return out

    def _tune(self, batch: int) -> float:
        """The LR successive halving keeps at ``batch`` (rule: module doc)."""
        linear = self.s.base_lr * batch / self.s.base_batch
        alive = [round_lr(linear * f) for f in self.s.lr_factors]
        rungs, n = 0, len(alive)
        while n > 1:  # halvings until one LR is left for the full run
            n, rungs = n // 2, rungs + 1
        for r in range(rungs):
            epochs = float(self.s.epochs) * 2.0 ** (r - rungs)
            scored = []
            rung = self.trials([TrialSpec(batch, lr, 0, epochs) for lr in alive])
            for i, (lr, res) in enumerate(zip(alive, rung)):
                scored.append((-_score(res), i, lr))
            keep = max(1, len(alive) // 2)
            alive = [lr for _, _, lr in sorted(scored)[:keep]]
        self.picks[batch] = alive[0]
        return alive[0]

    def _past_edge(self, batch: int, lr: float, verdict: dict) -> dict:
        """A tuned LR at an end of the candidates whose verdict is not
        "passes" leaves B_H a lower bound (a larger or smaller LR might
        pass), so the grid grows: the LR one x2 step past that end runs the
        full epochs on seed 0 and, if its validation accuracy beats the
        pick's, becomes the pick and is judged; at most EDGE_STEPS steps.
        A pick still on the edge after them is flagged ``lr_at_edge`` and
        its failure counts as "undecided" (the bracket goes on above it)."""
        linear = self.s.base_lr * batch / self.s.base_batch
        tried = [round_lr(linear * f) for f in self.s.lr_factors]
        full = float(self.s.epochs)
        for _ in range(EDGE_STEPS):
            if verdict["verdict"] == "passes" or min(tried) < lr < max(tried):
                break
            nxt = round_lr(lr * 2 if lr == max(tried) else lr / 2)
            tried.append(nxt)
            mine = self.trial(TrialSpec(batch, lr, 0, full))
            other = self.trial(TrialSpec(batch, nxt, 0, full))
            if not (other.ok and (not mine.ok or _score(other) > _score(mine))):
                break
            lr = self.picks[batch] = nxt
            verdict = self._judge(batch, lr, False)
        verdict["lr_at_edge"] = (verdict["verdict"] != "passes"
                                 and lr in (min(tried), max(tried)))
        if verdict["lr_at_edge"] and verdict["verdict"] == "fails":
            # Not a decided failure: a larger (smaller) LR might pass.
            verdict["verdict"] = "undecided"
        return verdict

    def _verdict_l(self, batch: int) -> str:
        if batch not in self.verdicts["b_l"]:
            lr = round_lr(self.s.base_lr * batch / self.s.base_batch)
            self.verdicts["b_l"][batch] = self._judge(batch, lr, True)
        return self.verdicts["b_l"][batch]["verdict"]

    def _verdict_h(self, batch: int) -> str:
        if batch not in self.verdicts["b_h"]:
            if self.verdicts["b_l"].get(batch, {}).get("verdict") == "passes":
                # Linear scaling is a technique too (Definition 2.2: any).
                self.verdicts["b_h"][batch] = dict(self.verdicts["b_l"][batch])
            else:
                lr = self._tune(batch)
                self.verdicts["b_h"][batch] = self._past_edge(
                    batch, lr, self._judge(batch, lr, False))
        return self.verdicts["b_h"][batch]["verdict"]

    def _bracket(self, grid, verdict_of, start_index) -> tuple:
        """(lo, hi) indices: grid[lo] passes, grid[hi] does not, hi = lo + 1;
        hi None when the whole grid passes (grid[0] = B0 passes by
        definition). Exponential steps from ``start_index``, then bisection;
        then, where grid[hi] is undecided, the sizes above it until one
        fails (the reported bracket's upper end, stats.brackets) or passes
        (the search goes on from there)."""
        lo, hi = 0, None
        i = start_index
        if verdict_of(grid[i]) == "passes":
            lo, step = i, 1
            while True:
                j = min(lo + step, len(grid) - 1)
                if j == lo:
                    return lo, None
                if verdict_of(grid[j]) == "passes":
                    lo, step = j, step * 2
                else:
                    hi = j
                    break
        else:
            hi, step = i, 1
            while True:
                j = max(hi - step, 0)
                if j == hi or verdict_of(grid[j]) == "passes":
                    lo = j
                    break
                hi, step = j, step * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if verdict_of(grid[mid]) == "passes":
                lo = mid
            else:
                hi = mid
        # The bracket must close on a decided failure: a cell still
        # undecided at max_seeds was only navigated as "not passing", so
        # look above it (a pass there restarts the search from that size).
        j = hi
        while verdict_of(grid[j]) == "undecided":
            if j + 1 == len(grid):
                break
            j += 1
            if verdict_of(grid[j]) == "passes":
                return self._bracket(grid, verdict_of, j)
        return lo, hi

    # --- the search --------------------------------------------------------
    def run(self) -> dict:
        grid = self.s.grid()
        b0 = self.s.base_batch
        self.acc_target = self.loss_target = None
        try:
            base = self.trials([TrialSpec(b0, round_lr(self.s.base_lr), k,
                                          float(self.s.epochs))
                                for k in range(self.s.baseline_seeds)])
            if not all(r.ok for r in base):
                raise ValueError(
                    f"the baseline (batch {b0}, lr {self.s.base_lr}) did not "
                    f"complete on every seed; fix the recipe before searching")
            self.acc_target = stats.Target.from_baseline(
                [r.accuracy for r in base])
            if all(r.loss is not None for r in base):
                self.loss_target = stats.Target.loss_bound([r.loss for r in base])
            start = self.s.start_batch or 2 * b0
            start_i = min(range(len(grid)), key=lambda k: abs(
                math.log(grid[k] / start)))
            self.verdicts["b_l"][b0] = {"verdict": "passes", "baseline": True}
            lo_l, hi_l = self._bracket(grid, self._verdict_l, max(start_i, 1))
            self.verdicts["b_h"][b0] = {"verdict": "passes", "baseline": True}
            lo_h, hi_h = self._bracket(grid, self._verdict_h,
                                       hi_l if hi_l is not None else lo_l)
            self.stopped = "bracketed"
        except BudgetSpent as e:
            self.stopped = f"budget: the next trial ({e}) would exceed it"
        summary = self.summary()
        open_ = [f"{n} at {summary[n]['undecided']}" for n in ("b_l", "b_h")
                 if summary[n] and summary[n]["undecided"]]
        unclosed = [n for n in ("b_l", "b_h") if summary[n]
                    and summary[n]["hi"] is None and summary[n]["lo"] != grid[-1]]
        if self.stopped == "bracketed" and unclosed:
            summary["stopped"] = self.stopped = (
                "grid end: no decided failure up to the max batch "
                f"{grid[-1]} for {', '.join(unclosed)}"
                + (f" (undecided: {'; '.join(open_)})" if open_ else ""))
        elif self.stopped == "bracketed" and open_:
            # Undecided cells (at max_seeds, or failing with the LR on the
            # edge of its grid) were navigated as "not passing".
            summary["stopped"] = self.stopped = (
                "bracketed, but undecided (at max_seeds "
                f"{self.s.max_seeds}, or LR at its grid's edge): "
                + "; ".join(open_))
        self._save(summary)
        return summary

    def summary(self) -> dict:
        out = {"stopped": self.stopped}
        for name, rule in (("b_l", "first_fail"), ("b_h", "last_pass")):
            kinds = {b: v["verdict"] for b, v in self.verdicts[name].items()}
            out[name] = stats.brackets(kinds, rule) if kinds else None
            out[name + "_verdicts"] = {str(b): v for b, v in
                                       sorted(self.verdicts[name].items())}
        out["lr_picks"] = {str(b): lr for b, lr in sorted(self.picks.items())}
        out["confidence"] = {"overall": self.s.confidence,
                             "per_look": self.s.look_confidence,
                             "max_seeds": self.s.max_seeds}
        out["compute"] = {"trials": len(self.ledger),
                          "trial_epochs": self.spent_epochs,
                          "cpu_s": self.spent_s, "budget_s": self.s.budget_s,
                          "ran_now": self.ran, "replayed": self.replayed,
                          "trial_epochs_now": self.now_epochs,
                          "cpu_s_now": self.now_s}
        return out


def _changes(saved: dict, mine: dict, keys) -> str:
    """'key=saved->mine, ...' for the ``keys`` whose values differ (the
    first four, sorted); '' when none do."""
    diff = sorted(k for k in keys if saved.get(k) != mine.get(k))
    return ", ".join(f"{k}={saved.get(k)!r}->{mine.get(k)!r}" for k in diff[:4])


def _score(result: TrialResult) -> float:
    """An LR candidate's rank: validation accuracy, -inf when it failed."""
    if result.ok and result.selection is not None:
        return result.selection
    return -math.inf


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


def format_summary(summary: dict) -> str:
    lines = []
    for name, label in (("b_l", "B_L"), ("b_h", "B_H")):
        b = summary.get(name)
        if not b:
            lines.append(f"{label}: not reached")
            continue
        lo, hi = ("?" if x is None else x for x in (b["lo"], b["hi"]))
        where = f"({lo}, {hi}]" if name == "b_l" else f"[{lo}, {hi})"
        if b["hi"] is None:
            where += " (no decided failure above it among the sizes run)"
        lines.append(f"{label} in {where}"
                     + (f"; undecided at {b['undecided']}" if b["undecided"] else "")
                     + (f"; non-monotone at {b['non_monotone']}"
                        if b["non_monotone"] else ""))
        for batch, v in summary[name + "_verdicts"].items():
            if v.get("baseline"):
                continue
            edge = ("; LR at the edge of those tried: a lower bound"
                    if v.get("lr_at_edge") else "")
            loss = f"; loss: {v['loss']}" if v.get("loss") else ""
            lines.append(f"  {batch}: {v['verdict']} (lr {v['learning_rate']:g}, "
                         f"accuracy: {v['accuracy']}{loss}{edge})")
    c = summary["compute"]
    conf = summary.get("confidence")
    if conf:
        lines.append(f"tests: one-sided, {100 * conf['overall']:g}% per verdict "
                     f"({100 * conf['per_look']:.3g}% per look, seeds added up "
                     f"to {conf['max_seeds']} while undecided)")
    lines.append(f"stopped: {summary['stopped']}")
    lines.append(f"compute: {c['trials']} trials, {c['trial_epochs']:.4g} "
                 f"trial-epochs, {c['cpu_s']:.0f} CPU-s of a {c['budget_s']:.0f} "
                 f"CPU-s budget (this invocation: {c['ran_now']} trials run, "
                 f"{c['trial_epochs_now']:.4g} trial-epochs, {c['cpu_s_now']:.0f} "
                 f"CPU-s; {c['replayed']} replayed from the ledger)")
    return "\n".join(lines)
