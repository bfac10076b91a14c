"""The one bad-input error type and the mapping of tf.data's errors to it."""
import pytest
import tensorflow as tf

from limitbatch_tf import errors
from limitbatch_tf.config import ConfigError
from limitbatch_tf.data.cifar10 import CifarFormatError
from limitbatch_tf.data.idx import IdxFormatError
from limitbatch_tf.data.imagenet_files import ImageNetFormatError
from limitbatch_tf.data.mnist import DataNotFoundError


@pytest.mark.parametrize("cls", [ConfigError, CifarFormatError, IdxFormatError,
                                 ImageNetFormatError, DataNotFoundError,
                                 errors.RecordFormatError])
def test_every_bad_input_error_is_an_input_error(cls):
    assert issubclass(cls, errors.InputError)
    assert errors.as_input_error(cls("x")) is not None


def test_data_not_found_is_still_a_file_not_found_error():
    assert issubclass(DataNotFoundError, FileNotFoundError)


def _pipeline_error(dataset):
    with pytest.raises(tf.errors.OpError) as info:
        next(iter(dataset))
    return info.value


def test_corrupt_record_in_the_pipeline_names_data_dir(tmp_path):
    path = str(tmp_path / "x.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(b"a record")
    raw = bytearray(open(path, "rb").read())
    raw[-6] ^= 0xFF  # inside the payload: the CRC no longer matches
    open(path, "wb").write(bytes(raw))
    error = _pipeline_error(tf.data.TFRecordDataset(path))
    assert isinstance(error, tf.errors.DataLossError)
    mapped = errors.as_input_error(error, "imagenet", "/data/in")
    assert isinstance(mapped, errors.RecordFormatError)
    message = str(mapped)
    assert message.startswith("--data_dir=/data/in: a corrupt or undecodable")
    assert "(corrupted record at 12)" in message and "\n" not in message
    assert "{{" not in message and "[Op:" not in message


def test_undecodable_jpeg_in_the_pipeline_is_bad_input():
    dataset = tf.data.Dataset.from_tensors(b"\xff\xd8 not a jpeg").map(
        tf.io.decode_jpeg)
    mapped = errors.as_input_error(_pipeline_error(dataset), "imagenet", None)
    assert str(mapped).startswith("--dataset=imagenet: a corrupt")


@pytest.mark.parametrize("error", [
    ValueError("a bug"),
    tf.errors.InvalidArgumentError(None, None, "shape mismatch in MatMul"),
    tf.errors.ResourceExhaustedError(None, None, "OOM in IteratorGetNext"),
])
def test_other_errors_are_not_bad_input(error):
    assert errors.as_input_error(error, "imagenet", "/d") is None


@pytest.mark.parametrize("message, reason", [
    ("{{function_node __wrapped__ReduceDataset_device_/job:l}} corrupted "
     "record at 4347 [Op:ReduceDataset] name: ", "corrupted record at 4347"),
    ("Graph execution error:\n\nDetected at node ExtractJpegShape defined at "
     "(most recent call last):\n<stack traces unavailable>\nInvalid JPEG "
     "data, size 260\n\t [[{{node ExtractJpegShape}}]]\n\t [[while/body/_1/"
     "while/IteratorGetNext]] [Op:__inference__train_loop_1]",
     "Invalid JPEG data, size 260"),
    ("{{function_node x}} Error in user-defined function passed to "
     "ParallelMapDatasetV2:1 transformation with iterator: Iterator::Root::"
     "ParallelMapV2: corrupted record at 12", "corrupted record at 12"),
])
def test_tf_reason_keeps_the_informative_line(message, reason):
    assert errors.tf_reason(message) == reason
