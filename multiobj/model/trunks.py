"""Ranking trunks: from the shared input to one representation per task.

  shared_bottom   one MLP, its output shared by every head (the default);
  mmoe            Multi-gate Mixture-of-Experts (Ma et al., KDD 2018): N
                  expert MLPs and, per task, a softmax gate mixing them;
  ple             Progressive Layered Extraction (Tang et al., RecSys 2020):
                  per level, shared experts plus experts of each task; a
                  task's gate mixes its own and the shared experts, a shared
                  gate mixes all of them into the next level's shared input.
                  One level a width of `trunk_layers`; one level is CGC.

A trunk is chosen by name with parameters, `--trunk=mmoe(experts=4)`, and is
registered like objectives, so a user adds one from their own module:

  from multiobj.model import trunks

  @trunks.register_trunk("my_trunk")
  class MyTrunk(trunks.Trunk):
    def call(self, inputs, training=False):
      ...
      return {task: hidden for task in self.tasks}, {}

Each call also returns the gates' weights, {gate name: [N, experts]}, so the
model can log how much each task uses each expert (a gate that collapses on
one expert shows as a usage near 1).
"""

from collections.abc import Sequence

import tensorflow as tf

from multiobj.model import towers, trunk_names

# The registry lives in `trunk_names` (names known without TensorFlow).
TRUNKS = trunk_names.TRUNKS
register_trunk = TRUNKS.register
check = trunk_names.check
resolve = trunk_names.resolve


class Trunk(tf.keras.layers.Layer):
  """Base class: maps [..., width] inputs to one [..., units] tensor a task.

  Args:
    tasks: Names of the tasks (the ranking heads) it serves.
    layers: ReLU widths (`config.ModelConfig.trunk_layers`).

  Attributes:
    gate_experts: {gate name: names of the experts it mixes}, in the order of
      the gate's outputs; empty for a trunk without gates.
  """

  def __init__(self, tasks: Sequence[str], layers: Sequence[int], **kwargs):
    super().__init__(**kwargs)
    self.tasks = tuple(tasks)
    self.units = tuple(int(u) for u in layers)
    if not self.tasks:
      raise ValueError("A trunk needs at least one task.")
    if not self.units:
      raise ValueError("A trunk needs at least one layer.")
    self.gate_experts: dict[str, tuple[str, ...]] = {}

  @property
  def shared_variables(self) -> list[tf.Variable]:
    """The variables every task's output depends on (for gradnorm, pcgrad
    and mgda)."""
    return list(self.trainable_variables)

  def call(self, inputs, training=False):
    """Returns ({task: [N, units]}, {gate name: [N, experts]})."""
    raise NotImplementedError


@register_trunk("shared_bottom")
class SharedBottom(Trunk):
  """One MLP whose output every head reads."""

  def __init__(self, tasks, layers, **kwargs):
    super().__init__(tasks, layers, **kwargs)
    self.mlp = towers.mlp(self.units, "shared")

  @property
  def shared_variables(self):
    return list(self.mlp.layers[-1].trainable_variables)

  def call(self, inputs, training=False):
    hidden = self.mlp(inputs)
    return {task: hidden for task in self.tasks}, {}


def _mix(gate, experts):
  """[..., K] softmax weights x [..., K, U] expert outputs -> [..., U]."""
  return tf.einsum("...k,...ku->...u", gate, experts)


@register_trunk("mmoe")
class MMoE(Trunk):
  """Multi-gate Mixture-of-Experts.

  Args:
    experts: Number of expert MLPs, each of widths `layers`.
  """

  def __init__(self, tasks, layers, experts: int = 4, **kwargs):
    super().__init__(tasks, layers, **kwargs)
    if int(experts) < 1:
      raise ValueError(f"mmoe: experts must be >= 1, got {experts}.")
    self.experts = [
      towers.mlp(self.units, f"expert{k}") for k in range(int(experts))
    ]
    self.gates = {
      task: tf.keras.layers.Dense(
        int(experts), activation="softmax", name=f"{task}_gate"
      )
      for task in self.tasks
    }
    names = tuple(f"e{k}" for k in range(int(experts)))
    self.gate_experts = {task: names for task in self.tasks}

  @property
  def shared_variables(self):
    # The experts' last layers: every task reads them through its gate.
    return [v for e in self.experts for v in e.layers[-1].trainable_variables]

  def call(self, inputs, training=False):
    experts = tf.stack([e(inputs) for e in self.experts], axis=-2)
    outputs, gates = {}, {}
    for task in self.tasks:
      gates[task] = self.gates[task](inputs)
      outputs[task] = _mix(gates[task], experts)
    return outputs, gates


@register_trunk("ple")
class PLE(Trunk):
  """Progressive Layered Extraction; with one level, CGC.

  Level l has `shared_experts` shared experts and `task_experts` experts per
  task, each one ReLU layer of width `layers[l]`. Task t's gate mixes t's
  experts and the shared ones; below the last level a shared gate mixes every
  expert of the level into the next level's shared input. Gates are named
  `{task}_l{level}` and `shared_l{level}` (levels from 1).

  Args:
    shared_experts: Shared experts per level.
    task_experts: Experts of each task per level.
  """

  def __init__(
    self,
    tasks,
    layers,
    shared_experts: int = 2,
    task_experts: int = 1,
    **kwargs,
  ):
    super().__init__(tasks, layers, **kwargs)
    shared_experts, task_experts = int(shared_experts), int(task_experts)
    if shared_experts < 0 or task_experts < 0:
      raise ValueError(
        "ple: shared_experts and task_experts must be >= 0, got "
        f"{shared_experts} and {task_experts}."
      )
    if shared_experts + task_experts < 1:
      raise ValueError("ple: needs at least one expert per task gate.")
    if "shared" in self.tasks:
      raise ValueError(
        "ple: a task named 'shared' would clash with the shared experts; "
        "rename the objective."
      )
    self.levels = []
    for level, width in enumerate(self.units, start=1):
      last = level == len(self.units)

      def dense(name, width=width, level=level):
        return tf.keras.layers.Dense(
          width, activation="relu", name=f"l{level}_{name}"
        )

      experts = {
        "shared": [dense(f"shared{k}") for k in range(shared_experts)],
        **{
          t: [dense(f"{t}{k}") for k in range(task_experts)] for t in self.tasks
        },
      }
      gates = {}
      for t in self.tasks:
        names = tuple(f"{t}{k}" for k in range(task_experts)) + tuple(
          f"shared{k}" for k in range(shared_experts)
        )
        gates[t] = tf.keras.layers.Dense(
          len(names), activation="softmax", name=f"{t}_gate_l{level}"
        )
        self.gate_experts[f"{t}_l{level}"] = names
      if not last and shared_experts:
        names = tuple(
          f"{t}{k}" for t in self.tasks for k in range(task_experts)
        ) + tuple(f"shared{k}" for k in range(shared_experts))
        gates["shared"] = tf.keras.layers.Dense(
          len(names), activation="softmax", name=f"shared_gate_l{level}"
        )
        self.gate_experts[f"shared_l{level}"] = names
      self.levels.append((experts, gates))

  @property
  def shared_variables(self):
    experts, _ = self.levels[-1]
    shared = [v for e in experts["shared"] for v in e.trainable_variables]
    return shared or list(self.trainable_variables)

  def call(self, inputs, training=False):
    task_inputs = {t: inputs for t in self.tasks}
    shared_input = inputs
    all_gates = {}
    for level, (experts, gates) in enumerate(self.levels, start=1):
      shared_out = [e(shared_input) for e in experts["shared"]]
      task_out = {
        t: [e(task_inputs[t]) for e in experts[t]] for t in self.tasks
      }
      next_inputs = {}
      for t in self.tasks:
        weights = gates[t](task_inputs[t])
        all_gates[f"{t}_l{level}"] = weights
        next_inputs[t] = _mix(weights, tf.stack(task_out[t] + shared_out, -2))
      if "shared" in gates:
        weights = gates["shared"](shared_input)
        all_gates[f"shared_l{level}"] = weights
        every = [o for t in self.tasks for o in task_out[t]] + shared_out
        shared_input = _mix(weights, tf.stack(every, -2))
      task_inputs = next_inputs
    return task_inputs, all_gates


def get_trunk(
  text: str, tasks: Sequence[str], layers: Sequence[int], name: str = "trunk"
) -> Trunk:
  """Builds the trunk `name(key=value,...)` for `tasks`.

  Raises:
    ValueError: naming the trunk for an unknown name or parameter.
  """
  cls, params = trunk_names.resolve(text)
  return cls(tasks, layers, name=name, **params)
