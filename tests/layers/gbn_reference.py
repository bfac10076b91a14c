"""Independent NumPy (float64) reference for grouped batch normalization.

Per stat group S (a set of examples) with example weights w:
    N = sum_S w,  mu = sum_S w x / N,  var = sum_S w (x - mu)^2 / N
    xhat = (x - mu) / sqrt(var + eps),  y = gamma * xhat + beta
Backward (classic BN derivation with weights; sums over all j in S, since
every output of the group depends on mu and var):
    dxhat = dy * gamma,  s = 1 / sqrt(var + eps)
    dx_i = s * (dxhat_i - w_i / N * sum_j dxhat_j
                        - w_i / N * xhat_i * sum_j dxhat_j xhat_j)
    dgamma = sum dy * xhat,  dbeta = sum dy.
"""
import numpy as np


def _flat(a, idx):
    """Rows `idx` of `a` flattened to [examples * positions, C]."""
    return a[idx].reshape(-1, a.shape[-1])


def _weights(x, w, idx):
    if w is None:
        w = np.ones(x.shape[0])
    wi = np.broadcast_to(
        w[idx].reshape((-1,) + (1,) * (x.ndim - 1)), x[idx].shape[:-1] + (1,))
    return wi.reshape(-1, 1)


def group_stats(x, w, idx):
    """(mean, biased variance, count) of examples `idx`."""
    xi, wi = _flat(x, idx), _weights(x, w, idx)
    n = wi.sum()
    mu = (wi * xi).sum(0) / n
    var = (wi * (xi - mu) ** 2).sum(0) / n
    return mu, var, n


def forward(x, gamma, beta, groups, w=None, eps=1e-3):
    """Outputs and per-group (mean, var, count); `groups` lists example ids."""
    x = x.astype(np.float64)
    y = np.zeros_like(x)
    stats = []
    for idx in groups:
        mu, var, n = group_stats(x, w, idx)
        y[idx] = gamma * (x[idx] - mu) / np.sqrt(var + eps) + beta
        stats.append((mu, var, n))
    return y, stats


def backward(x, gamma, groups, dy, w=None, eps=1e-3):
    """Gradients of sum(y * dy) w.r.t. x, gamma and beta."""
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    dx = np.zeros_like(x)
    dgamma = np.zeros(x.shape[-1])
    dbeta = np.zeros(x.shape[-1])
    for idx in groups:
        mu, var, n = group_stats(x, w, idx)
        s = 1.0 / np.sqrt(var + eps)
        xi, dyi, wi = _flat(x, idx), _flat(dy, idx), _weights(x, w, idx)
        xhat = (xi - mu) * s
        dxhat = dyi * gamma
        dxi = s * (dxhat - wi / n * dxhat.sum(0)
                   - wi / n * xhat * (dxhat * xhat).sum(0))
        dx[idx] = dxi.reshape(x[idx].shape)
        dgamma += (dyi * xhat).sum(0)
        dbeta += dyi.sum(0)
    return dx, dgamma, dbeta


def moving_update(moving_mean, moving_var, stats, momentum):
    """One EMA step towards the count-weighted mean of the group stats."""
    total = sum(n for _, _, n in stats)
    mean = sum(n * mu for mu, _, n in stats) / total
    var = sum(n * v for _, v, n in stats) / total
    return (momentum * moving_mean + (1 - momentum) * mean,
            momentum * moving_var + (1 - momentum) * var)


def replica_groups_to_examples(groups, per_replica_batch):
    """Example ids of each replica group (replica r holds rows r*b..r*b+b-1)."""
    return [np.concatenate([np.arange(r * per_replica_batch,
                                      (r + 1) * per_replica_batch)
                            for r in group]) for group in groups]


def ghost_groups(batch, ghost_batch_size):
    """Consecutive ghost batches of a (global) batch."""
    return [np.arange(s, s + ghost_batch_size)
            for s in range(0, batch, ghost_batch_size)]
