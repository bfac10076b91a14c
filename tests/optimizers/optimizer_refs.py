"""Independent float64 NumPy implementations of the published update rules.

Written from the formulas (LARS: You et al. 2017 Alg. 1 in the MLPerf form;
LAMB: You et al. 2019 Alg. 2; Adagrad: Duchi et al. 2011), one variable at a
time, without looking at the TensorFlow code paths. Each returns the list
of all variables after every step.
"""
import numpy as np


def _norm(x):
    return float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))


def _ratio(num, den, ok, bounds=None):
    if not ok:
        return 1.0
    r = num / den
    if bounds is not None:
        lo, hi = bounds
        r = r if lo is None else max(r, lo)
        r = r if hi is None else min(r, hi)
    return r


def lars(params, grads, lrs, *, momentum=0.9, nesterov=False, eeta=1e-3,
         epsilon=0.0, wd=0.0, decayed_grad_norm=False,
         lr_after_momentum=False, clip=False, decay_mask, adapt_mask):
    """MLPerf LARS; ``clip=True`` is apex LARC's clip mode (LARC.step):
    adaptive_lr = min(adaptive_lr / lr, 1) where both norms are > 0."""
    w = [np.array(p, np.float64) for p in params]
    v = [np.zeros_like(x) for x in w]
    out = []
    for step_grads, lr in zip(grads, lrs):
        for i, g in enumerate(step_grads):
            g = np.asarray(g, np.float64)
            lam = wd if decay_mask[i] else 0.0
            d = g + lam * w[i]
            r = 1.0
            if adapt_mask[i]:
                wn, gn, dn = _norm(w[i]), _norm(g), _norm(d)
                if decayed_grad_norm:
                    r = _ratio(eeta * wn, dn + epsilon, wn > 0 and dn > 0)
                else:
                    r = _ratio(eeta * wn, gn + lam * wn + epsilon,
                               wn > 0 and gn > 0)
                ok = wn > 0 and (dn if decayed_grad_norm else gn) > 0
                if clip and ok:
                    r = min(r / lr, 1.0) if lr > 0 else 1.0  # r / 0 = inf
            if momentum == 0:
                w[i] = w[i] - lr * r * d
            elif lr_after_momentum:
                v[i] = momentum * v[i] + r * d
                upd = momentum * v[i] + r * d if nesterov else v[i]
                w[i] = w[i] - lr * upd
            else:
                v[i] = momentum * v[i] + lr * r * d
                upd = momentum * v[i] + lr * r * d if nesterov else v[i]
                w[i] = w[i] - upd
        out.append([x.copy() for x in w])
    return out


def lamb(params, grads, lrs, *, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
         wd=0.0, bias_correction=True, weight_norm_clamp=None,
         trust_ratio_bounds=None, decay_mask, adapt_mask):
    w = [np.array(p, np.float64) for p in params]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    out = []
    for t, (step_grads, lr) in enumerate(zip(grads, lrs), start=1):
        for i, g in enumerate(step_grads):
            g = np.asarray(g, np.float64)
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
            m_hat, v_hat = m[i], v[i]
            if bias_correction:
                m_hat = m_hat / (1 - beta_1 ** t)
                v_hat = v_hat / (1 - beta_2 ** t)
            u = m_hat / (np.sqrt(v_hat) + epsilon)
            if decay_mask[i]:
                u = u + wd * w[i]
            r = 1.0
            if adapt_mask[i]:
                wn = _norm(w[i])
                if weight_norm_clamp is not None:
                    lo, hi = weight_norm_clamp
                    wn = wn if lo is None else max(wn, lo)
                    wn = wn if hi is None else min(wn, hi)
                un = _norm(u)
                r = _ratio(wn, un, wn > 0 and un > 0, trust_ratio_bounds)
            w[i] = w[i] - lr * r * u
        out.append([x.copy() for x in w])
    return out


def layerwise_adagrad(params, grads, lrs, *, epsilon=1e-7, eeta=1.0,
                      wd=0.0, initial_accumulator=0.1, trust_ratio_bounds=None,
                      decay_mask, adapt_mask):
    """Adagrad step ``g / sqrt(acc + eps)`` + coupled L2, then trust ratio."""
    w = [np.array(p, np.float64) for p in params]
    acc = [np.full_like(x, initial_accumulator) for x in w]
    out = []
    for step_grads, lr in zip(grads, lrs):
        for i, g in enumerate(step_grads):
            g = np.asarray(g, np.float64)
            acc[i] = acc[i] + g * g
            u = g / np.sqrt(acc[i] + epsilon)
            if decay_mask[i]:
                u = u + wd * w[i]
            r = 1.0
            if adapt_mask[i]:
                wn, un = _norm(w[i]), _norm(u)
                r = _ratio(eeta * wn, un, wn > 0 and un > 0,
                           trust_ratio_bounds)
            w[i] = w[i] - lr * r * u
        out.append([x.copy() for x in w])
    return out


def l2_momentum(params, grads, lrs, *, momentum=0.9, wd=0.0, decay_mask):
    """Momentum SGD on ``g + wd * w`` (Goyal et al. 2017 eq. 2, lr inside)."""
    w = [np.array(p, np.float64) for p in params]
    v = [np.zeros_like(x) for x in w]
    out = []
    for step_grads, lr in zip(grads, lrs):
        for i, g in enumerate(step_grads):
            d = np.asarray(g, np.float64) + (wd if decay_mask[i] else 0) * w[i]
            v[i] = momentum * v[i] + lr * d
            w[i] = w[i] - v[i]
        out.append([x.copy() for x in w])
    return out
