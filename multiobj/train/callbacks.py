"""What runs at the end of each epoch of `Model.fit`.

tensorboard     each task's loss and effective weight;
weighting       the strategy's epoch hook (DWA reads the epoch's losses);
checkpoint      the weights, as checkpoints/ckpt-<epoch>;
history         one JSON line an epoch in history.jsonl (training and
                validation losses and weights), for whoever watches a run
                while it trains, e.g. a sweep's pruner;
early stopping  with `early_stopping`, Keras' early stopping on the
                validation loss, keeping the best epoch's weights.
"""

import os
import time
from collections.abc import Sequence

import tensorflow as tf

import objectives as objectives_lib
from multiobj.train import run_dir


class EarlyStopping(tf.keras.callbacks.EarlyStopping):
  """Keras' early stopping, which also keeps the best epoch's weights when
  training runs every epoch without stopping (Keras 2.15 restores them only
  when it stops early)."""

  def on_train_end(self, logs=None):
    stopped = self.model.stop_training  # Keras restored them already.
    if (
      self.best_weights is not None
      and not stopped
      and self.best_epoch != self._last_epoch
    ):
      self.model.set_weights(self.best_weights)
    super().on_train_end(logs)

  def on_epoch_end(self, epoch, logs=None):
    self._last_epoch = epoch
    super().on_epoch_end(epoch, logs)


class FirstStep(tf.keras.callbacks.Callback):
  """Notes when the first training step ends (`at`, seconds since the
  epoch): reading, preparing, building and tracing are all behind it."""

  def __init__(self):
    super().__init__()
    self.at = None

  def on_train_batch_end(self, batch, logs=None):
    if self.at is None:
      self.at = time.time()


def process_start() -> float | None:
  """When this process started (seconds since the epoch), or None where
  /proc does not say (not Linux)."""
  try:
    with open("/proc/self/stat") as f:
      ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
  except (OSError, ValueError, IndexError):
    return None
  return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


def build(
  model: tf.keras.Model,
  objectives: Sequence[objectives_lib.Objective],
  directory: str,
  manager: tf.train.CheckpointManager,
  early_stopping: int,
) -> tuple[list[tf.keras.callbacks.Callback], EarlyStopping | None]:
  """The callbacks of one run writing to `directory`, and the early stopper
  (None when `early_stopping` is 0)."""
  callbacks = [
    # Every 50 steps and every epoch: each task's loss and effective weight.
    tf.keras.callbacks.TensorBoard(
      os.path.join(directory, run_dir.TENSORBOARD), update_freq=50
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: model.weighting.on_epoch_end(
        {o.name: logs[f"{o.name}_loss"] for o in objectives}
      )
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: manager.save(checkpoint_number=epoch + 1)
    ),
    tf.keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, logs: run_dir.append_json(
        directory, run_dir.HISTORY, {"epoch": epoch + 1, **logs}
      )
    ),
  ]
  stopper = None
  if early_stopping:
    stopper = EarlyStopping(
      monitor="val_loss",
      patience=early_stopping,
      restore_best_weights=True,
      verbose=1,
    )
    # First, so the epoch the checkpoint callback saves last is the best.
    callbacks.insert(0, stopper)
  return callbacks, stopper
