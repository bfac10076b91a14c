"""find_limit's search on a simulated trainer (no TensorFlow): accuracy a
known function of batch size, LR and epochs plus seed noise, so the true
brackets are known: linear scaling fails from 1024 on (B_L in (512, 1024]),
the best tuned LR reaches the bar up to 8192 and not at 16384 (B_H in
[8192, 16384))."""
import json
import math

import numpy as np
import pytest

from limitbatch_tf.analysis import stats
from limitbatch_tf.forecast import search

B0, LR0, EPOCHS = 256, 0.1, 8.0


class SimulatedTrainer:
    """acc = best(B) - 0.03 * max(0, |log2(lr / lr_opt(B))| - 0.6)
    - 0.02 * (1 - epochs / rho) + N(0, 0.002) per seed, with
    lr_opt(B) = lr0 sqrt(B / B0) (so the linearly scaled LR overshoots by
    log2 ratio 0.5 log2(B / B0): 0.5 at 512, 1.0 at 1024); best(B) = 0.90 up
    to 8192, then 0.88, 0.85. LRs 2^2.5 above lr_opt diverge. CPU cost:
    epochs x (20 + 5000 / B) seconds."""

    def __init__(self, fail_after=None):
        self.calls = []
        self.fail_after = fail_after

    def __call__(self, spec):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls.append(spec.key)
        b, lr = spec.batch_size, spec.learning_rate
        cost = spec.epochs * (20 + 5000 / b)
        off = abs(math.log2(lr / (LR0 * math.sqrt(b / B0))))
        if off > 2.5:
            return search.TrialResult("diverged", None, None, None,
                                      spec.epochs / 4, cost / 4)
        best = {16384: 0.88, 32768: 0.85}.get(b, 0.90)
        mean = (best - 0.03 * max(0.0, off - 0.6)
                - 0.02 * (1 - spec.epochs / EPOCHS))
        rng = np.random.default_rng([b, int(lr * 1e6), spec.seed,
                                     int(spec.epochs * 100)])
        acc = float(mean + rng.normal(0, 0.002))
        sel = float(acc + rng.normal(0, 0.002))
        return search.TrialResult("completed", acc, sel, 0.3 + 5 * (0.9 - acc),
                                  spec.epochs, cost)


def _settings(**kw):
    base = dict(base_batch=B0, base_lr=LR0, epochs=EPOCHS, max_batch=32768,
                budget_s=1e6, start_batch=1024)
    base.update(kw)
    return search.Settings(**base)


def _exhaustive_epochs(settings):
    """The map this replaces: every grid size x LR x 3 seeds, full epochs."""
    return len(settings.grid()) * len(settings.lr_factors) * 3 * settings.epochs


@pytest.mark.parametrize("start", [256, 1024, 4096, 32768])
def test_finds_the_true_brackets_from_any_start(tmp_path, start):
    settings = _settings(start_batch=start)
    s = search.Search(settings, SimulatedTrainer(), str(tmp_path), log=lambda m: None)
    summary = s.run()
    assert summary["stopped"] == "bracketed"
    assert (summary["b_l"]["lo"], summary["b_l"]["hi"]) == (512, 1024)
    assert (summary["b_h"]["lo"], summary["b_h"]["hi"]) == (8192, 16384)
    assert not summary["b_l"]["non_monotone"] and not summary["b_h"]["non_monotone"]
    # A guard on the cost, not issue 19's goal (at most 25% of the map's
    # trial-epochs, measured on the real study in experiments/forecast/
    # REPORT.md): here 27-29% of a 3-seed exhaustive map, the price of the
    # per-look level that keeps a verdict's error within 1 - c (module doc
    # of search.py; 22-25% when every look tested at c).
    assert summary["compute"]["trial_epochs"] < 0.30 * _exhaustive_epochs(settings)
    # The tuned LR at 8192 is one within 0.6 octaves of lr_opt = 0.566
    # (factors 1/8, 1/4 of linear: 0.4, 0.8), not the diverging linear 3.2.
    assert summary["lr_picks"]["8192"] in (0.4, 0.8)


def test_respects_its_budget(tmp_path):
    trainer = SimulatedTrainer()
    full = search.Search(_settings(), trainer, str(tmp_path / "full"),
                         log=lambda m: None).run()
    budget = full["compute"]["cpu_s"] / 3
    s = search.Search(_settings(budget_s=budget), SimulatedTrainer(),
                      str(tmp_path / "small"), log=lambda m: None)
    summary = s.run()
    assert summary["stopped"].startswith("budget")
    assert summary["compute"]["cpu_s"] <= budget
    assert summary["compute"]["cpu_s"] > 0.5 * budget  # it used the budget


def test_resume_after_a_kill_repeats_no_finished_trial(tmp_path):
    first = SimulatedTrainer(fail_after=17)
    with pytest.raises(KeyboardInterrupt):
        search.Search(_settings(), first, str(tmp_path), log=lambda m: None).run()
    second = SimulatedTrainer()
    summary = search.Search(_settings(), second, str(tmp_path),
                            log=lambda m: None).run()
    assert len(first.calls) == 17
    assert not set(first.calls) & set(second.calls)
    assert summary["compute"]["replayed"] == 17
    assert (summary["b_l"]["lo"], summary["b_h"]["lo"]) == (512, 8192)
    # The same as an uninterrupted search, trial for trial.
    fresh = SimulatedTrainer()
    search.Search(_settings(), fresh, str(tmp_path / "fresh"),
                  log=lambda m: None).run()
    assert first.calls + second.calls == fresh.calls


def test_adds_seeds_only_where_undecided(tmp_path):
    s = search.Search(_settings(), SimulatedTrainer(), str(tmp_path),
                      log=lambda m: None)
    summary = s.run()
    seeds = {b: v["seeds"] for name in ("b_l_verdicts", "b_h_verdicts")
             for b, v in summary[name].items() if "seeds" in v}
    # Clear cells (16384: 2 points below the bar, 32768: 5) stop at one
    # seed; 1024 (0.75 point below, ~4 seed spreads) needs more.
    assert seeds["16384"] == 1 and seeds["32768"] == 1 and seeds["1024"] > 1
    # Every extra seed answered an "undecided" on the seeds before it.
    for name, with_loss in (("b_l_verdicts", True), ("b_h_verdicts", False)):
        for b, v in summary[name].items():
            for k in range(1, v.get("seeds", 1)):
                runs = [s.ledger[search.TrialSpec(int(b), v["learning_rate"], j,
                                                  EPOCHS).key][1]
                        for j in range(k)]
                parts = [stats.judge([r.accuracy for r in runs], s.acc_target,
                                     s.s.look_confidence)]
                if with_loss:
                    parts.append(stats.judge([r.loss for r in runs],
                                             s.loss_target, s.s.look_confidence))
                assert stats.combine(*parts) == "undecided", (b, k)


def test_bad_settings():
    with pytest.raises(ValueError, match="at least twice"):
        search.Search(_settings(max_batch=256), SimulatedTrainer(), "/tmp/x")


class BorderlineTrainer:
    """Deterministic: the baseline's seeds 0.900/0.902/0.898 (bar 0.8955);
    linear scaling 0.90 up to 512, exactly on the bar at the ``borderline``
    sizes (seeds +-0.003 around it: never decided), 0.90 at the ``passing``
    ones, 0.80 elsewhere above 512; any LR the same."""

    def __init__(self, borderline=(1024,), passing=()):
        self.borderline, self.passing = borderline, passing

    def __call__(self, spec):
        b = spec.batch_size
        if b == B0:
            acc = (0.900, 0.902, 0.898, 0.9, 0.9)[spec.seed]
        elif b <= 512 or b in self.passing:
            acc = 0.90
        elif b in self.borderline:
            acc = 0.995 * 0.90 + (0.003 if spec.seed % 2 else -0.003)
        else:
            acc = 0.80
        return search.TrialResult("completed", acc, acc, None, spec.epochs, 1.0)


def test_undecided_at_max_seeds_is_reported_not_hidden(tmp_path):
    summary = search.Search(_settings(), BorderlineTrainer(), str(tmp_path),
                            log=lambda m: None).run()
    v = summary["b_l_verdicts"]["1024"]
    assert v["verdict"] == "undecided" and v["seeds"] == 5
    assert summary["b_l"]["undecided"] == [1024]
    assert summary["stopped"].startswith("bracketed, but undecided (at max_seeds 5")
    # The undecided 1024 was navigated as "not passing"; the search then
    # judged 2048 so that each bracket closes on a decided failure.
    for name in ("b_l", "b_h"):
        assert (summary[name]["lo"], summary[name]["hi"]) == (512, 2048)
        assert summary[name]["undecided"] == [1024]
        assert summary[name + "_verdicts"]["2048"]["verdict"] == "fails"
    assert "4096" not in summary["b_l_verdicts"]


def test_an_undecided_band_is_crossed_until_a_decided_verdict(tmp_path):
    """Undecided at 1024 and 2048, passing at 4096, failing above: the
    search walks over the band, goes on from the pass at 4096, and brackets
    both boundaries at [4096, 8192] with the band reported."""
    trainer = BorderlineTrainer(borderline=(1024, 2048), passing=(4096,))
    summary = search.Search(_settings(start_batch=512), trainer,
                            str(tmp_path), log=lambda m: None).run()
    assert (summary["b_l"]["lo"], summary["b_l"]["hi"]) == (4096, 8192)
    assert (summary["b_h"]["lo"], summary["b_h"]["hi"]) == (4096, 8192)
    assert summary["b_h"]["undecided"] == []  # below lo: cannot move B_H
    assert summary["b_l_verdicts"]["2048"]["verdict"] == "undecided"
    assert "16384" not in summary["b_l_verdicts"]


class BatchingTrainer(SimulatedTrainer):
    """The simulated trainer with ``run_many``: records each batch."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def run_many(self, specs, parallel):
        self.batches.append(([s.key for s in specs], parallel))
        return [self(s) for s in specs]


def test_independent_trials_go_to_the_trainer_together(tmp_path):
    """With --parallel, the baseline's seeds and each successive-halving
    rung are one run_many call; the search's result is the sequential
    one, trial for trial."""
    together = BatchingTrainer()
    summary = search.Search(_settings(parallel=2), together, str(tmp_path / "p"),
                            log=lambda m: None).run()
    one_by_one = SimulatedTrainer()
    want = search.Search(_settings(), one_by_one, str(tmp_path / "s"),
                         log=lambda m: None).run()
    assert sorted(together.calls) == sorted(one_by_one.calls)
    assert (summary["b_l"], summary["b_h"]) == (want["b_l"], want["b_h"])
    sizes = [len(keys) for keys, _ in together.batches]
    assert sizes[0] == 3  # the baseline's seeds
    assert 5 in sizes and 2 in sizes  # rungs of 5 and 2 LRs
    assert {p for _, p in together.batches} == {2}


def test_a_batch_runs_what_fits_the_budget_then_stops(tmp_path):
    trainer = BatchingTrainer()
    s = search.Search(_settings(parallel=2, budget_s=1e6), trainer,
                      str(tmp_path), log=lambda m: None)
    s.trials([search.TrialSpec(B0, LR0, 0, EPOCHS)])  # learns the cost: 8 x 39.5
    s.s.budget_s = s.spent_s + 1.5 * 8 * (20 + 5000 / B0)
    with pytest.raises(search.BudgetSpent):
        s.trials([search.TrialSpec(B0, LR0, k, EPOCHS) for k in (1, 2, 3)])
    assert len(trainer.calls) == 2  # seed 1 fit the budget, seed 2 did not
    assert s.spent_s <= s.s.budget_s


class OffGridTrainer:
    """Deterministic: the baseline 0.900/0.902/0.898 (bar 0.8955); up to
    512 any LR gives 0.90; from 1024 on acc = best(B) - 0.02 |log2(lr /
    lr_opt)| with lr_opt = ``above`` x the linearly scaled LR, i.e. past
    the candidates' top (2x) when ``above`` > 2; best(B) = 0.90 below
    8192, 0.80 from there."""

    def __init__(self, above):
        self.above = above

    def __call__(self, spec):
        b, lr = spec.batch_size, spec.learning_rate
        if b == B0:
            acc = (0.900, 0.902, 0.898, 0.9, 0.9)[spec.seed]
        elif b <= 512:
            acc = 0.90
        else:
            best = 0.90 if b < 8192 else 0.80
            acc = best - 0.02 * abs(math.log2(lr / (self.above * LR0 * b / B0)))
        return search.TrialResult("completed", acc, acc, None, spec.epochs, 1.0)


def test_an_lr_pick_at_the_grids_edge_grows_the_grid(tmp_path):
    """The best LR 4x the linear one (past the top candidate, 2x): a search
    that stopped at the candidates would fail at 1024 (acc 0.88) and put
    B_H in [512, 1024); growing past the edge finds 4x and B_H in
    [4096, 8192). At 8192 the 4x LR is better than 2x yet still fails,
    8x is worse: an interior pick, so not flagged."""
    summary = search.Search(_settings(), OffGridTrainer(above=4),
                            str(tmp_path), log=lambda m: None).run()
    assert (summary["b_h"]["lo"], summary["b_h"]["hi"]) == (4096, 8192)
    assert summary["lr_picks"]["4096"] == search.round_lr(4 * LR0 * 16)
    assert summary["lr_picks"]["8192"] == search.round_lr(4 * LR0 * 32)
    assert not any(v.get("lr_at_edge") for v in summary["b_h_verdicts"].values())
    assert (summary["b_l"]["lo"], summary["b_l"]["hi"]) == (512, 1024)


def test_a_pick_still_on_the_edge_is_flagged_a_lower_bound(tmp_path):
    """lr_opt 32x linear: two x2 steps past the top (to 8x) still improve
    and still fail, so each failure is a lower bound: "undecided" with the
    flag, and B_H's bracket stays open to the end of the batch grid."""
    summary = search.Search(_settings(), OffGridTrainer(above=32),
                            str(tmp_path), log=lambda m: None).run()
    v = summary["b_h_verdicts"]["1024"]
    assert v["verdict"] == "undecided" and v["lr_at_edge"]
    assert v["learning_rate"] == search.round_lr(8 * LR0 * 4)
    assert "a lower bound" in search.format_summary(summary)
    assert (summary["b_h"]["lo"], summary["b_h"]["hi"]) == (512, None)
    assert summary["stopped"].startswith(
        "grid end: no decided failure up to the max batch 32768 for b_h")


def test_a_resumed_search_refuses_changed_settings(tmp_path):
    search.Search(_settings(budget_s=50), SimulatedTrainer(), str(tmp_path),
                  log=lambda m: None).run()
    with pytest.raises(ValueError, match=r"other settings \(max_seeds=5->3\)"):
        search.Search(_settings(max_seeds=3), SimulatedTrainer(),
                      str(tmp_path), log=lambda m: None)
    # The budget may grow: the search goes on where it stopped.
    summary = search.Search(_settings(), SimulatedTrainer(), str(tmp_path),
                            log=lambda m: None).run()
    assert summary["stopped"] == "bracketed"


def test_a_parallel_resume_keeps_its_budget(tmp_path):
    """Replayed trials count before the next batch is planned: at every
    budget a resumed parallel search ends within it and launches no trial
    the first run already ran."""
    for budget in range(1500, 2100, 37):
        store = str(tmp_path / str(budget))
        first = BatchingTrainer()
        s1 = search.Search(_settings(budget_s=budget, parallel=2), first,
                           store, log=lambda m: None).run()
        again = BatchingTrainer()
        s2 = search.Search(_settings(budget_s=budget, parallel=2), again,
                           store, log=lambda m: None).run()
        assert s1["compute"]["cpu_s"] <= budget
        assert s2["compute"]["cpu_s"] <= budget, budget
        assert again.batches == [] or not set(again.calls) & set(first.calls)


def test_estimate_ignores_diverged_start_ups(tmp_path):
    """A diverged quarter-epoch trial costs its start-up: its cost per epoch
    must not price a completed run's epochs."""
    s = search.Search(_settings(), SimulatedTrainer(), str(tmp_path),
                      log=lambda m: None)
    ok = search.TrialSpec(1024, 0.1, 0, 8.0)
    s.ledger = {
        ok.key: (ok, search.TrialResult("completed", 0.9, 0.9, 0.3, 8.0, 80.0)),
        "d": (search.TrialSpec(1024, 3.2, 0, 2.0),
              search.TrialResult("diverged", None, None, None, 0.25, 10.0))}
    assert s._estimate_s(search.TrialSpec(1024, 0.2, 1, 8.0)) == 80.0  # same length
    assert s._estimate_s(search.TrialSpec(1024, 0.2, 0, 4.0)) == 40.0  # per epoch
    assert s._estimate_s(search.TrialSpec(2048, 0.2, 0, 4.0)) == 40.0  # any batch


class OnTheBarTrainer:
    """Seeds N(mu, sd) at every batch size and LR; the baseline's mean is
    0.9, so mu = 0.995 * 0.9 puts every cell exactly on the bar."""

    def __init__(self, mu, sd=0.003, seed=0):
        self.mu, self.sd = mu, sd
        self.rng = np.random.default_rng(seed)

    def __call__(self, spec):
        mean = 0.9 if spec.batch_size == B0 else self.mu
        acc = float(mean + self.sd * self.rng.standard_normal())
        return search.TrialResult("completed", acc, acc, None, spec.epochs, 1.0)


def test_sequential_seeds_keep_the_stated_error_rate(tmp_path):
    """A cell exactly on the bar, judged with seeds added while undecided
    (up to 5): wrong decisions at most 1 - c = 10% each way (~6% with the
    per-look level 96.7%; ~20% if every look used 90%)."""
    runs, wrong = 600, {"passes": 0, "fails": 0}
    for k in range(runs):
        s = search.Search(_settings(), OnTheBarTrainer(0.995 * 0.9, seed=k),
                          str(tmp_path / str(k)), log=lambda m: None)
        base = [s.trial(search.TrialSpec(B0, LR0, j, EPOCHS)).accuracy
                for j in range(3)]
        s.acc_target = stats.Target.from_baseline(base)
        s.loss_target = None
        # The cell's truth is 99.5% of the baseline's true mean (0.9).
        verdict = s._judge(1024, 0.4, False)["verdict"]
        if verdict in wrong:
            wrong[verdict] += 1
    assert wrong["passes"] / runs < 0.10 and wrong["fails"] / runs < 0.10
    assert s.s.look_confidence == pytest.approx(1 - 0.1 / 3)


def test_compute_counts_every_trial_in_the_ledger(tmp_path):
    """A trial the replayed path no longer visits (run under an earlier
    rule) was still spent: the compute and the budget count it."""
    first = search.Search(_settings(), SimulatedTrainer(), str(tmp_path),
                          log=lambda m: None).run()["compute"]
    path = tmp_path / search.LEDGER_FILE
    ledger = json.loads(path.read_text())
    ledger["trials"].append({"spec": dict(batch_size=2048, learning_rate=9.9,
                                          seed=0, epochs=2.0),
                             "result": dict(status="completed", accuracy=0.5,
                                            selection=0.5, loss=1.0,
                                            epochs=2.0, cpu_s=123.0)})
    path.write_text(json.dumps(ledger))
    again = search.Search(_settings(), SimulatedTrainer(), str(tmp_path),
                          log=lambda m: None).run()["compute"]
    assert again["trials"] == first["trials"] + 1
    assert again["cpu_s"] == pytest.approx(first["cpu_s"] + 123.0)
    assert again["trial_epochs"] == pytest.approx(first["trial_epochs"] + 2.0)
    assert again["ran_now"] == 0 and again["replayed"] == first["trials"]
