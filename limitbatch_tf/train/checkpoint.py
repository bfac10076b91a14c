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
        for path in reversed(self.manager.checkpoints):
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
