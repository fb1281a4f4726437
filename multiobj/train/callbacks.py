"""What runs at the end of each step and epoch of `Model.fit`.

finite loss     each step: a loss that is NaN or infinite stops the run
                with `DivergenceError`, naming the task and the step;
tensorboard     each task's loss and effective weight;
weighting       the strategy's epoch hook (DWA reads the epoch's losses);
checkpoint      the weights, as checkpoints/ckpt-<epoch>;
history         one JSON line an epoch in history.jsonl (training and
                validation losses and weights), for whoever watches a run
                while it trains, e.g. a sweep's pruner;
validation      with a monitored metric, its value on the validation split
                (`ValidationMetric`), logged as `val_<metric>`;
early stopping  Keras' early stopping on the monitored value, which keeps
                the best epoch's weights (`keep` "best") and, with
                `early_stopping`, stops after that many epochs without
                improvement;
backup, resume  last: Keras's BackupAndRestore backs the run up each
                epoch (in `backup/`) and restores an interrupted one, and
                `Resume` puts history and data order where it stopped.
"""

import math
import os
import tempfile
import time
from collections.abc import Sequence

import tensorflow as tf
from absl import logging

import objectives as objectives_lib
from multiobj.train import run_dir, tensorboard


class EarlyStopping(tf.keras.callbacks.EarlyStopping):
  """Keras' early stopping, which also keeps the best epoch's weights when
  training runs every epoch without stopping (Keras 2.15 restores them only
  when it stops early), and writes them to `best_checkpoint` as each epoch
  improves on the best (a resumed run reads them there, however old)."""

  def __init__(self, *args, best_checkpoint: str | None = None, **kwargs):
    super().__init__(*args, **kwargs)
    self.best_checkpoint = best_checkpoint

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
    if self.best_checkpoint and self.best_epoch == epoch:
      tf.train.Checkpoint(model=self.model).write(self.best_checkpoint)

  def resume(self, values: Sequence[float]) -> bool:
    """Puts back the state the epochs of an interrupted run left, as
    `on_epoch_end` would have, from `values`, the monitored value of each
    epoch done; but the best epoch's weights (`Resume` reads them).
    Returns whether the run had stopped (its patience ran out)."""
    self.on_train_begin()
    for epoch, value in enumerate(values):
      self.wait += 1
      if self._is_improvement(value, self.best):
        self.best, self.best_epoch, self.wait = value, epoch, 0
      self._last_epoch = epoch
    return len(values) > 1 and self.wait >= self.patience


class ValidationMetric(tf.keras.callbacks.Callback):
  """Scores the model on a validation metric after each epoch and logs it
  as `val_<metric>`, first: the early stopper, the checkpoints, TensorBoard
  and history.jsonl read it from the epoch's logs.

  Args:
    monitor: An `evaluate.validation.Monitor` (its `metric`, `score`).
  """

  def __init__(self, monitor):
    super().__init__()
    self.monitor = monitor

  def on_epoch_end(self, epoch, logs=None):
    began = time.time()
    value = float(self.monitor.score(self.model))
    if logs is not None:
      logs[f"val_{self.monitor.metric}"] = value
    logging.info(
      "Epoch %d: validation %s %.4f (%.1f s).",
      epoch + 1,
      self.monitor.metric,
      value,
      time.time() - began,
    )


class DivergenceError(RuntimeError):
  """Training reached a loss that is not finite: the run has no result."""


class FiniteLoss(tf.keras.callbacks.Callback):
  """Raises `DivergenceError` at the first step whose loss is NaN or infinite,
  naming the tasks whose loss is, the epoch and the step. (Keras's
  TerminateOnNaN only stops: the run would then write metrics of a model
  whose weights are NaN, and exit 0.)

  Args:
    tasks: The objectives' names; their losses are logged as `{name}_loss`.
    learning_rate: The run's, for the message.
  """

  def __init__(self, tasks: Sequence[str], learning_rate: float):
    super().__init__()
    self.tasks, self.learning_rate = list(tasks), learning_rate
    self.epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    logs = logs or {}
    if "loss" not in logs or math.isfinite(float(logs["loss"])):
      return
    bad = [
      f"{name} ({float(logs[f'{name}_loss'])})"
      for name in self.tasks
      if f"{name}_loss" in logs
      and not math.isfinite(float(logs[f"{name}_loss"]))
    ]
    what = (
      f"the loss of {', '.join(bad)}"
      if bad
      else f"the weighted sum of the losses ({float(logs['loss'])}), every "
      "task's own loss finite (a weight is not)"
    )
    raise DivergenceError(
      f"Training diverged at epoch {self.epoch + 1}, step {batch + 1}: "
      f"{what} is not finite. No result was written. Lower --learning_rate "
      f"(it is {self.learning_rate:g}), or look for extreme values in the "
      "labels, weights or numeric features."
    )


class Backup(tf.keras.callbacks.BackupAndRestore):
  """Keras's BackupAndRestore (weights, optimizer, epoch and batch, in
  `backup/`), backing the run up at each epoch's end and, with `every`,
  every that many steps too (Keras does one or the other). Counted in
  batches, so that a backup of either kind restores the same way; with
  `every` None (an epoch's steps unknown), at epochs' ends as Keras does.
  """

  # Steps between backups when only epochs' ends back up.
  _NEVER = 2**62

  def __init__(self, directory: str, every: int | None = 0):
    super().__init__(
      os.path.join(directory, run_dir.BACKUP),
      save_freq="epoch" if every is None else every or self._NEVER,
      delete_checkpoint=False,
    )

  def on_epoch_end(self, epoch, logs=None):
    super().on_epoch_end(epoch, logs)
    if self.save_freq != "epoch":
      self._batches_count = 0
      self._backup(epoch=epoch)


def resume_point(directory: str, steps: int) -> tuple[int, int]:
  """(epochs done, steps done of the next) where an interrupted run in
  `directory`, of `steps` steps an epoch, resumes; (0, 0) for a new run."""
  epoch, batch = run_dir.backup_position(directory)
  if epoch < 0 or batch < 0:
    return 0, 0
  if batch >= steps - 1:
    return epoch + 1, 0
  return epoch, batch + 1


class Resume(tf.keras.callbacks.Callback):
  """After `Backup` restored an interrupted run (weights, optimizer, where
  it stopped), puts the rest where it left them: history.jsonl keeps the
  epochs done, and the training data is advanced by as many epochs (each
  iteration of a shuffled dataset draws the next order, so the resumed
  epochs see the orders an uninterrupted run would). A run resumed
  mid-epoch iterates `resumed_data`: the batches of that epoch not yet
  trained, then the following epochs.

  Args:
    directory: The run's directory.
    train: The training dataset.
    steps: Its steps an epoch.
  """

  def __init__(self, directory: str, train: tf.data.Dataset, steps: int):
    super().__init__()
    self.directory, self.train = directory, train
    self.done, self.into = resume_point(directory, steps)
    self.stopper = None  # `build`'s early stopper, whose state it restores.
    self._best = None  # The epoch whose weights the stopper awaits.
    self._trackers = []  # The resumed epoch's running means, and values.

  def stopped_early(self) -> bool:
    """Whether the interrupted run's early stopper had stopped it: then no
    epoch is left to train."""
    if self.stopper is None or not self.done:
      return False
    return self.stopper.resume(self._monitored())

  def _monitored(self) -> list[float]:
    history = run_dir.read_history(self.directory)
    return (history.get(self.stopper.monitor) or [])[: self.done]

  def resumed_data(self) -> tf.data.Dataset:
    """What `Model.fit` iterates (with `steps` an epoch when mid-epoch)."""
    if not self.into:
      return self.train
    return self.train.repeat().skip(self.into)

  def on_train_begin(self, logs=None):
    if not (self.done or self.into):
      return
    if self.into:
      logging.info(
        "Resuming in epoch %d after step %d (%s).",
        self.done + 1,
        self.into,
        self.directory,
      )
    else:
      logging.info("Resuming after epoch %d (%s).", self.done, self.directory)
    run_dir.keep_history(self.directory, self.done)
    if self.into:
      # The epoch's running means (losses, weights), as the backup holds
      # them: Keras resets them as the epoch begins (`on_epoch_begin`).
      self._trackers = [
        (v, v.numpy()) for m in self.model.metrics for v in m.variables
      ]
    left = self.done < self.params.get("epochs", 0)
    if self.stopper is not None and self.done:
      self.stopper.resume(self._monitored())
      if self.stopper.restore_best_weights:
        self._best = self.stopper.best_epoch
        if not left:  # No step will come to wait for.
          self.on_train_batch_end(0)
    if left:
      for _ in range(self.done):
        next(iter(self.train))
      if self.into:
        # Keras's fit makes an iterator it drops before the first epoch's
        # (making one draws a shuffle's order; a generator's draws wait for
        # its first element). `resumed_data`, iterated once, does not: that
        # dropped iterator is made here.
        iter(self.train)

  def on_epoch_begin(self, epoch, logs=None):
    for variable, value in self._trackers:
      variable.assign(value)
    self._trackers = []

  def on_train_batch_end(self, batch, logs=None):
    # The stopper's best weights, read once the optimizer exists (its first
    # step builds it; before, restoring a checkpoint of the model would
    # leave its optimizer's values waiting, and they would win).
    if self._best is not None:
      self.stopper.best_weights = self._weights_of(self._best)
      self._best = None

  def _weights_of(self, epoch: int) -> list:
    """The model's weights at the end of `epoch` (from 0), read from its
    checkpoint. Restoring the model restores its optimizer too, so the
    whole state is set aside first and put back after."""
    path = os.path.join(
      self.directory, run_dir.CHECKPOINTS, f"ckpt-{epoch + 1}"
    )
    best = self.stopper.best_checkpoint if self.stopper else None
    if best and os.path.exists(best + ".index"):
      path = best  # The best epoch's, written as it was reached.
    state = tf.train.Checkpoint(model=self.model)
    with tempfile.TemporaryDirectory() as scratch:
      kept = state.write(os.path.join(scratch, "now"))
      tf.train.Checkpoint(model=self.model).restore(path).expect_partial()
      weights = self.model.get_weights()
      state.restore(kept)
    return weights


class Clock(tf.keras.callbacks.Callback):
  """When the first training step ends (`first_step`, seconds since the
  epoch: reading, preparing, building and tracing are all behind it) and
  how long each epoch of this process takes (`epochs`, validation
  included): the first one's excess over the others is start-up."""

  def __init__(self):
    super().__init__()
    self.first_step = None
    self.epochs: list[float] = []
    self._began = None

  def on_epoch_begin(self, epoch, logs=None):
    self._began = time.time()

  def on_train_batch_end(self, batch, logs=None):
    if self.first_step is None:
      self.first_step = time.time()

  def on_epoch_end(self, epoch, logs=None):
    self.epochs.append(time.time() - self._began)


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
  learning_rate: float,
  resume: Resume | None = None,
  checkpoint_every_steps: int | None = 0,
  monitor=None,
  keep_best: bool = False,
) -> tuple[list[tf.keras.callbacks.Callback], EarlyStopping | None]:
  """The callbacks of one run writing to `directory`, and the early stopper
  (None when neither `early_stopping` nor `keep_best` asks for one). It
  watches `monitor` (an `evaluate.validation.Monitor`), or the validation
  loss for None."""
  callbacks = [
    FiniteLoss([o.name for o in objectives], learning_rate),
    tensorboard.TensorBoard(
      os.path.join(directory, run_dir.TENSORBOARD),
      tasks=[o.name for o in objectives],
      gates=tensorboard.gate_slots(model),
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
  if early_stopping or keep_best:
    higher = monitor is not None and monitor.higher
    stopper = EarlyStopping(
      monitor="val_loss" if monitor is None else f"val_{monitor.metric}",
      mode="max" if higher else "min",
      # Without early stopping, it only keeps the best epoch's weights.
      patience=early_stopping or 2**31,
      restore_best_weights=keep_best,
      verbose=1 if early_stopping else 0,
      best_checkpoint=os.path.join(directory, run_dir.CHECKPOINTS, "best"),
    )
    # First, so the epoch the checkpoint callback saves last is the best.
    callbacks.insert(0, stopper)
  if monitor is not None:
    callbacks.insert(0, ValidationMetric(monitor))
  if resume is not None:
    # Last: an epoch is backed up once everything else has recorded it.
    callbacks += [Backup(directory, checkpoint_every_steps), resume]
    resume.stopper = stopper
  return callbacks, stopper
