"""Workers: take trials of open experiments from the run database until none is left.

Any number of workers, in one process or on several machines sharing a PostgreSQL database,
cooperate through the database only:

- a trial slot is reserved with one conditional UPDATE (:meth:`Store.claim_trial`), so an
  experiment never runs more trials than asked;
- Optuna hands each worker its own trial; while it trains, Optuna's heartbeat and imgrec's
  run heartbeat say it is alive;
- before claiming, a worker fails the trials of dead workers (no heartbeat for the grace
  period); Optuna's retry callback queues each again with the same parameters and the slot is
  given back, so another worker runs it;
- the worker that sees an experiment with every trial finished writes its report and model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from imgrec.config import Settings
from imgrec.search.report import finished, write_experiment_report
from imgrec.search.space import SearchSpace
from imgrec.search.study import make_pruner, make_sampler, optuna_storage
from imgrec.search.trial import STOP_REQUESTED, HandBacks, run_trial
from imgrec.store import ExperimentInfo, Store
from imgrec.store.tables import utcnow

__all__ = ["Worker", "finalise_if_done"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Worker:
    """Runs trials from the database at ``url``.

    Args:
        url: Run database URL.
        settings: Heartbeat interval and grace period come from here.
        experiment: Only this experiment (by name); default any open one, oldest first.
        show_progress: Print each trial's training progress.
        on_trial_end: Called after every trial this worker ran (for search progress).
    """

    url: str
    settings: Settings
    experiment: str | None = None
    show_progress: bool = False
    on_trial_end: Callable[[ExperimentInfo], None] | None = None
    poll_s: float = 2.0

    def __post_init__(self) -> None:
        self.store = Store(self.url)
        self.storage = optuna_storage(
            self.url,
            heartbeat_s=self.settings.heartbeat_s,
            grace_s=self.settings.heartbeat_grace_s,
            on_failed=self._give_slot_back,
        )
        self.trials_run = 0

    def _give_slot_back(self, study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        self.store.release_trial(self.store.get_experiment(study.study_name).id)

    def recover_dead_trials(self) -> None:
        """Fail runs and trials whose worker died; their retries become claimable."""
        self.store.reap_stale_runs(grace_s=self.settings.heartbeat_grace_s)
        for exp in self.store.list_experiments():
            if exp.status != "open" or (self.experiment and exp.name != self.experiment):
                continue
            study = optuna.load_study(study_name=exp.name, storage=self.storage)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)

    def run_one(self) -> ExperimentInfo | None:
        """Claim and run one trial; None when no open experiment has a trial left."""
        self.recover_dead_trials()
        exp = self.store.claim_trial(experiment=self.experiment)
        if exp is None:
            return None
        space = SearchSpace.from_dict(exp.space)
        seed = int(exp.base_config.get("train", {}).get("seed", 0))
        study = optuna.load_study(
            study_name=exp.name,
            storage=self.storage,
            # Seeded per slot: reproducible with one worker, different across workers.
            sampler=make_sampler(
                exp.sampler,
                seed=seed * 100_003 + exp.trials_claimed,
                multi_objective=len(exp.objectives) > 1,
            ),
            pruner=make_pruner(exp.pruner, max_epochs=space.max_epochs or 10),
        )
        handed_back = HandBacks.count
        try:
            self._optimize(study, exp)
        except KeyboardInterrupt:
            if HandBacks.count == handed_back:  # stopped before the trial began to train
                self.store.release_trial(exp.id)
            raise
        self.trials_run += 1
        finalise_if_done(self.store, self.storage, exp.name)
        if self.on_trial_end is not None:
            self.on_trial_end(exp)
        return exp

    def _optimize(self, study: optuna.Study, exp: ExperimentInfo) -> None:
        study.optimize(
            lambda trial: run_trial(
                trial,
                exp=exp,
                store=self.store,
                settings=self.settings,
                show_progress=self.show_progress,
            ),
            n_trials=1,
            catch=(Exception,),
            gc_after_trial=True,
        )

    def run(self, *, wait: bool = False, until_done: bool = False) -> int:
        """Run trials until none is left; returns how many this worker ran.

        Args:
            wait: Keep polling for new experiments forever.
            until_done: With ``experiment``: also wait while other workers still run its
                trials (a dead one's trial may come back to be retried).
        """
        try:
            while True:
                if STOP_REQUESTED.is_set():
                    raise KeyboardInterrupt
                if self.run_one() is not None:
                    continue
                if self.experiment is not None:
                    done = finalise_if_done(self.store, self.storage, self.experiment)
                    if until_done and not done:
                        time.sleep(self.poll_s)
                        continue
                if not wait:
                    return self.trials_run
                time.sleep(self.poll_s)
        finally:
            self.store.close()  # its pool; a later call reconnects


def finalise_if_done(store: Store, storage: optuna.storages.BaseStorage, name: str) -> bool:
    """Write the report of experiment ``name`` if no trial is left to run; True if it ended."""
    exp = store.get_experiment(name)
    if exp.status != "open" and exp.summary:
        return True
    study = optuna.load_study(study_name=name, storage=storage)
    slots_left = exp.status == "open" and exp.trials_claimed < exp.n_trials
    if exp.deadline is not None and exp.deadline <= utcnow():
        slots_left = False
    if slots_left or not finished(study):
        return False
    summary = write_experiment_report(study, exp)
    store.finish_experiment(exp.id, best_run_id=summary.get("best_run_id"), summary=summary)
    return True
