"""Writes synthetic results stores with known answers."""
import json
import os


def write_trial(root, name, batch, acc, loss=0.3, optimizer="momentum",
                lr=0.1, lr_scaling="linear", seed=0, epochs=30.0,
                status="completed", tag=None, layerwise=False, num_train=60000,
                history=None, telemetry=None, config_extra=None):
    folder = os.path.join(str(root), name)
    os.makedirs(folder, exist_ok=True)
    config = dict(optimizer=optimizer, learning_rate=lr, lr_scaling=lr_scaling,
                  base_batch_size=256, batch_size=str(batch), seed=seed,
                  epochs=epochs, layerwise=layerwise, tag=tag, dataset="fake",
                  model_dir=folder)
    config.update(config_extra or {})
    peak = lr * batch / 256 if lr_scaling == "linear" else lr
    data = dict(status=status, config=config, global_batch_size=batch,
                num_train_examples=num_train, peak_learning_rate=peak,
                epochs_completed=epochs,
                diverged_step=5 if status == "diverged" else None,
                metrics={} if status == "diverged" else dict(
                    eval_accuracy=acc, eval_loss=loss),
                history=history or [dict(step=10, epoch=epochs,
                                          eval_accuracy=acc, eval_loss=loss)],
                telemetry=telemetry or {})
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(data, f)
