"""What a run writes for TensorBoard, in groups its dashboards show apart.

Under `<model_dir>/tensorboard`, one TensorBoard run a folder:

  train/        the training step's graph (Graphs dashboard); per epoch:
                loss/total, loss/<task>, weight/<task> (the
                weight the strategy gave the task), gate/<gate>/<expert>
                (an MMoE/PLE gate's mean weight on an expert); every 50
                steps the same under step/ (step/loss/click, ...);
  validation/   per epoch: loss/total and loss/<task>, on the same charts
                as training's (weights and gates are training's own);
  test/         at the end: test/<task>/<metric> (test/click/auc);
  .             the run's hyperparameters and those metrics for the HParams
                dashboard (`write_results`): point TensorBoard at a sweep's
                folder and every trial is a row there.
"""

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

# Keras's name of the total loss.
_TOTAL = "loss"


def gate_slots(model) -> dict[str, tuple[str, str]]:
  """{Keras log name "gate_<gate>_<expert>": (gate, expert)} of a model's
  trunk; empty without gates."""
  experts = getattr(getattr(model, "trunk", None), "gate_experts", None) or {}
  return {
    f"gate_{gate}_{expert}": (gate, expert)
    for gate, names in experts.items()
    for expert in names
  }


def tag(
  key: str,
  tasks: Sequence[str],
  gates: Mapping[str, tuple[str, str]],
  training: bool = True,
) -> str | None:
  """The TensorBoard tag of Keras's log `key`, or None for a value not
  written (a weight or a gate on validation data: training's own values,
  averaged again). A name it does not know keeps Keras's name."""
  if key == _TOTAL:
    return "loss/total"
  if key in gates:
    return f"gate/{gates[key][0]}/{gates[key][1]}" if training else None
  for task in sorted(tasks, key=len, reverse=True):
    if key == f"{task}_loss":
      return f"loss/{task}"
    if key == f"{task}_weight":
      return f"weight/{task}" if training else None
  return key


class TensorBoard(tf.keras.callbacks.Callback):
  """Each task's loss and effective weight, and the gates, for
  TensorBoard (see the module's docstring for the tags): every `every`
  steps (at the step) and every epoch, training and validation.

  Keras's own callback calls `tf.summary` at every step under a condition,
  and the process grew by about 10 KB a step with it (300 MB over the
  31,000 steps of an epoch on 100M impressions) and stayed flat without
  it; this one writes from Python on the steps it records only.
  """

  def __init__(
    self,
    directory: str,
    tasks: Sequence[str] = (),
    gates: Mapping[str, tuple[str, str]] | None = None,
    every: int = 50,
  ):
    super().__init__()
    self._directory, self._every = directory, every
    self._tasks, self._gates = tuple(tasks), dict(gates or {})
    self._writers = {}
    self._step = None

  def _write(self, part: str, logs, prefix: str, step: int) -> None:
    if part not in self._writers:
      self._writers[part] = tf.summary.create_file_writer(
        os.path.join(self._directory, part)
      )
    with self._writers[part].as_default(step=step):
      for key, value in logs.items():
        name = tag(key, self._tasks, self._gates, part == "train")
        if name is not None:
          tf.summary.scalar(prefix + name, value)

  def on_train_batch_end(self, batch, logs=None):
    if self._step is None:  # After a resumed run's state is restored.
      self._step = int(self.model.optimizer.iterations.numpy())
      self._write_graph()
    else:
      self._step += 1
    if logs and self._step % self._every == 0:
      self._write("train", logs, "step/", self._step)

  def _write_graph(self) -> None:
    """The training step's graph, once traced, for the Graphs dashboard
    (as Keras's own callback does with `write_graph`)."""
    step = getattr(self.model, "train_tf_function", None)
    traced = getattr(step, "_concrete_variable_creation_fn", None)
    if traced is None:  # Run eagerly: no graph.
      return
    self._write("train", {}, "", self._step)
    with self._writers["train"].as_default():
      tf.summary.graph(traced.graph)

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    train = {k: v for k, v in logs.items() if not k.startswith("val_")}
    validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
    for part, values in (("train", train), ("validation", validation)):
      if values:
        self._write(part, values, "", epoch)

  def on_train_end(self, logs=None):
    for writer in self._writers.values():
      writer.close()
    self._writers, self._step = {}, None


def metric_tag(name: str, tasks: Sequence[str]) -> str:
  """ "test/<task>/<metric>" of a metrics.json name such as click_auc."""
  for task in sorted(tasks, key=len, reverse=True):
    if name.startswith(task + "_"):
      return f"test/{task}/{name[len(task) + 1 :]}"
  return f"test/{name}"


def hyperparameters(config: Mapping[str, Any]) -> dict[str, Any]:
  """The flat {"slice.field": value} of a config's `to_dict()` that the
  HParams dashboard can show: numbers, text and booleans; lists as text;
  the objectives as "name:weight,..."; paths of the run left out."""
  out = {}

  def visit(prefix, value):
    if isinstance(value, Mapping):
      for key, inner in value.items():
        visit(f"{prefix}.{key}" if prefix else key, inner)
    elif prefix in ("model_dir", "prepare.cache_dir") or value is None:
      return
    elif prefix == "prepare.objectives":
      out[prefix] = ",".join(f"{o['name']}:{o['weight']:g}" for o in value)
    elif isinstance(value, list | tuple):
      out[prefix] = ",".join(str(v) for v in value)
    elif isinstance(value, bool | int | float | str):
      out[prefix] = value

  visit("", config)
  return out


def write_results(
  directory: str,
  config: Mapping[str, Any],
  metrics: Mapping[str, float],
  tasks: Sequence[str],
  step: int,
  split: str = "test",
) -> None:
  """The metrics of the evaluated `split` (in a folder of that name, at
  `step`) and the run's hyperparameters (the TensorBoard folder itself)
  under `directory`, the run's TensorBoard folder. Metrics that are not
  finite are left out."""
  writer = tf.summary.create_file_writer(os.path.join(directory, split))
  with writer.as_default(step=step):
    for name, value in metrics.items():
      if value is not None and math.isfinite(float(value)):
        tf.summary.scalar(metric_tag(name, tasks), float(value))
  writer.close()
  writer = tf.summary.create_file_writer(directory)
  with writer.as_default():
    hparams_api.hparams(hyperparameters(config))
  writer.close()
