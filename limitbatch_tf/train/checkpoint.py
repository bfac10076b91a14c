"""Checkpoints that survive: save every N steps, restore with fallback.

A checkpoint that fails to load (a truncated file after a crash mid-write on
a filesystem without atomic renames, a deleted shard) is skipped with a
warning and the previous one is tried, so one bad file costs N steps, not
the run.
"""
from __future__ import annotations

import os
import warnings

import tensorflow as tf


class Checkpointer:
    """A tf.train.CheckpointManager over the model and optimizer."""

    def __init__(self, model_dir: str, max_to_keep: int = 3, **trackables):
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(model_dir, "checkpoints"),
            max_to_keep=max_to_keep)

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint that loads; returns its path."""
        for path in reversed(self._listed()):
            try:
                self.checkpoint.restore(path).expect_partial()
                return path
            # Corrupt files surface as OpError, ValueError, IndexError... from
            # different reader layers: any failure means "try the previous".
            except Exception as e:  # noqa: BLE001
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                warnings.warn(f"checkpoint {path} failed to load ({first}); "
                              f"trying the previous one")
        return None

    def save(self, step: int) -> str:
        return self.manager.save(checkpoint_number=step)

    def _listed(self) -> list:
        """The checkpoints the state file lists, oldest first.

        CheckpointManager lists only paths whose timestamps are newer than
        the state's last_preserved_timestamp, so a state file without
        timestamps (tf.compat.v1.train.update_checkpoint_state, older tools,
        a hand edit) makes its list empty and a run would restart from step
        0; the state file's own list is read then.
        """
        if self.manager.checkpoints:
            return list(self.manager.checkpoints)
        state = tf.train.get_checkpoint_state(self.manager.directory)
        if state is None:
            return []
        return list(state.all_model_checkpoint_paths) or (
            [state.model_checkpoint_path] if state.model_checkpoint_path else [])
