"""The one error type for bad input, and the mapping of TensorFlow's.

Every flag, config key or data file that a user got wrong raises an
:class:`InputError` (or a subclass) whose message names the flag or file
and says what was expected; ``limitbatch_tf.main`` prints it as one line and
exits 2. The subclasses say where the problem was found:

- ``config.ConfigError``: a flag or config key (including a range check of
  a flag against the data, e.g. ``--validation_examples``);
- ``data.mnist.DataNotFoundError``: no dataset files where --data_dir says;
- ``data.idx.IdxFormatError``, ``data.cifar10.CifarFormatError``,
  ``data.imagenet_files.ImageNetFormatError``: a reader's format error;
- :class:`RecordFormatError`: a corrupt TFRecord record, found while
  counting records or while the input pipeline runs.

A corrupt record is often found only inside ``tf.data`` while training
runs, where TensorFlow raises ``DataLossError`` (bad record framing or CRC)
or ``InvalidArgumentError`` (e.g. an undecodable JPEG) from the iterator's
``IteratorGetNext``. :func:`as_input_error` maps those, and only those, to a
:class:`RecordFormatError` naming --data_dir (TensorFlow's message does not
name the file).
"""
from __future__ import annotations

import re
from typing import Optional


class InputError(ValueError):
    """Bad input from the user; the message names the flag or file."""


class RecordFormatError(InputError):
    """A TFRecord file or record that cannot be read or decoded."""


# Lines of a TensorFlow error message that carry no information for a user.
_NOISE = ("Graph execution error", "Detected at node", "<stack traces", "[[")


def tf_reason(message: str) -> str:
    """The informative line of a TensorFlow error message.

    "{{function_node ...}} Error in user-defined function ...: corrupted
    record at 4347 [Op:ReduceDataset] name:" -> "corrupted record at 4347".
    """
    lines = []
    for line in message.splitlines():
        line = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*$", "", line).strip()
        if line and not line.startswith(_NOISE):
            lines.append(line)
    if not lines:
        return message.strip()[:200]
    reason = lines[0]
    if reason.startswith("Error in user-defined function") and ": " in reason:
        reason = reason.rsplit(": ", 1)[-1]
    return reason[:200]


def from_pipeline_error(error, dataset: Optional[str],
                        data_dir: Optional[str]) -> Optional[RecordFormatError]:
    """A RecordFormatError for an OpError raised by the input pipeline.

    Args:
        error: any exception.
        dataset, data_dir: the --dataset and --data_dir of the run.

    Returns:
        The RecordFormatError, or None when ``error`` is not a
        ``DataLossError``/``InvalidArgumentError`` raised by an iterator
        (those are bugs, not bad input, and keep their traceback).
    """
    import tensorflow as tf
    if not isinstance(error, (tf.errors.DataLossError,
                              tf.errors.InvalidArgumentError)):
        return None
    message = str(error)
    if "IteratorGetNext" not in message and "ReduceDataset" not in message:
        return None
    where = f"--data_dir={data_dir}" if data_dir else f"--dataset={dataset}"
    return RecordFormatError(
        f"{where}: a corrupt or undecodable record in --dataset={dataset}'s "
        f"files ({tf_reason(message)}); expected TFRecords of tf.train.Example "
        f"as the dataset's reader documents")


def as_input_error(error, dataset: Optional[str] = None,
                   data_dir: Optional[str] = None) -> Optional[InputError]:
    """``error`` as an InputError if it is bad input, else None."""
    if isinstance(error, InputError):
        return error
    return from_pipeline_error(error, dataset, data_dir)
