"""Per-example cross-entropy with label smoothing (optimization 3, section 3.1).

The loop divides the sum of per-example losses by the *global* batch size
(``tf.nn.compute_average_loss``), so this module returns one loss per example
rather than a mean.
"""
import tensorflow as tf


def per_example_cross_entropy(labels, logits, label_smoothing=0.0):
    """Softmax cross-entropy of integer labels, with label smoothing.

    With K classes and eps = ``label_smoothing`` the targets are
    ``q = (1 - eps) * onehot(y) + eps / K`` (Szegedy et al. 2016, section 7;
    the same convention as ``keras.losses.CategoricalCrossentropy``), so

    ```
    loss = -sum_k q_k log p_k
         = (1 - eps) * (-log p_y) + eps * mean_k(-log p_k)
    ```

    with ``log p = log_softmax(logits)`` (numerically stable, no one-hot
    tensor is built). The paper's ImageNet recipe uses eps = 0.1 (Table 4).
    The computation is in float32 whatever the logits' dtype (bfloat16 or
    float16 under mixed precision), because the loss and its gradients lose
    too much precision otherwise.

    Args:
        labels: integer class ids in [0, K), shape [batch] or [batch, 1].
        logits: unnormalised scores, shape [batch, K], any float dtype.
        label_smoothing: eps in [0, 1]. Defaults to 0.0.

    Returns:
        float32 tensor of shape [batch], the loss of each example.

    Raises:
        ValueError: if ``label_smoothing`` is outside [0, 1] or the shapes of
            ``labels`` and ``logits`` do not match.
    """
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1], got {label_smoothing!r}.")
    logits = tf.cast(logits, tf.float32)
    labels = tf.convert_to_tensor(labels)
    if labels.dtype.is_floating:
        raise ValueError(f"`labels` must be integer class ids, got dtype {labels.dtype.name}.")
    if logits.shape.rank != 2:
        raise ValueError(f"`logits` must have shape [batch, classes], got {logits.shape}.")
    if labels.shape.rank == 2 and labels.shape[-1] == 1:
        labels = tf.squeeze(labels, axis=-1)
    if labels.shape.rank != 1:
        raise ValueError(f"`labels` must have shape [batch] or [batch, 1], got {labels.shape}.")
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    nll = -tf.gather(log_probs, tf.cast(labels, tf.int32), axis=-1, batch_dims=1)
    if label_smoothing == 0.0:
        return nll
    smooth = -tf.reduce_mean(log_probs, axis=-1)
    return (1.0 - label_smoothing) * nll + label_smoothing * smooth
