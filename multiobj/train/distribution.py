"""Training across devices and machines with `tf.distribute`.

  default        one device (TensorFlow's default strategy);
  mirrored       synchronous data parallelism over the local devices: every
                 GPU, or, without GPUs, the CPU split into `cpu_devices`
                 logical devices (useful to test the multi-replica path);
  multi_worker   synchronous data parallelism over several machines, each
                 running the same command with its own $TF_CONFIG, as
                 TensorFlow documents:
                   {"cluster": {"worker": ["host1:port", "host2:port"]},
                    "task": {"type": "worker", "index": 0}}
                 Worker 0 (or the task of type "chief") is the chief: it
                 writes checkpoints, summaries and metrics to the model
                 directory; the other workers write their share of each
                 checkpoint to a scratch directory that is removed.

Each batch is the global batch: the strategy splits it between replicas. The
model makes its losses those of the global batch (`model.step.global_losses`) and
gathers retrieval candidates across replicas when asked.
"""

import itertools
import json
import os
import shutil
import tempfile

import tensorflow as tf

_KEY_BASES = itertools.count(0, 10_000)


def make_strategy(name: str, cpu_devices: int = 1) -> tf.distribute.Strategy:
  """The strategy `name` ("default", "mirrored" or "multi_worker").

  Raises:
    ValueError: for an unknown name, a multi-worker run without $TF_CONFIG,
      or logical CPU devices requested after TensorFlow set up its devices.
  """
  if cpu_devices > 1:
    split_cpu(cpu_devices)
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    # Collective ops are keyed by group; every MirroredStrategy starts its
    # group keys at the class's `_collective_key_base`, so a second strategy
    # in one process (a grid of runs) would reuse the first one's keys and
    # fail with "Collective instance ... expected type". TensorFlow sets the
    # base in its own tests for the same reason; here each strategy gets its
    # own range.
    tf.distribute.MirroredStrategy._collective_key_base = next(_KEY_BASES)
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      raise ValueError(
        "--strategy=multi_worker needs $TF_CONFIG describing the cluster and "
        'this worker, e.g. {"cluster": {"worker": ["host1:2222", '
        '"host2:2222"]}, "task": {"type": "worker", "index": 0}}.'
      )
    try:
      json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
      raise ValueError(f"$TF_CONFIG is not valid JSON: {e}.") from None
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise ValueError(
    f"Unknown strategy {name!r}; expected default, mirrored or multi_worker."
  )


def split_cpu(count: int) -> None:
  """Splits the first CPU into `count` logical devices (idempotent)."""
  cpu = tf.config.list_physical_devices("CPU")[0]
  wanted = [tf.config.LogicalDeviceConfiguration()] * count
  current = tf.config.get_logical_device_configuration(cpu)
  if current is not None and len(current) == count:
    return
  try:
    tf.config.set_logical_device_configuration(cpu, wanted)
  except RuntimeError:
    raise ValueError(
      f"cpu_devices={count}: TensorFlow has already set up its devices in "
      "this process; split the CPU before anything else runs TensorFlow."
    ) from None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's outputs."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  cluster = resolver.cluster_spec().as_dict()
  return (
    resolver.task_type == "worker"
    and resolver.task_id == 0
    and ("chief" not in cluster)
  )


def worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
  """Where this process writes: the model directory on the chief, a fresh
  scratch directory on the other workers (remove it with `cleanup`)."""
  if is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return tempfile.mkdtemp(
    prefix=f"multiobj_{resolver.task_type}{resolver.task_id}_"
  )


def cleanup(directory: str, model_dir: str) -> None:
  if os.path.abspath(directory) != os.path.abspath(model_dir):
    shutil.rmtree(directory, ignore_errors=True)


def num_workers(strategy: tf.distribute.Strategy) -> int:
  """Processes training together (1 but for a multi-worker strategy)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return 1
  cluster = resolver.cluster_spec().as_dict()
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def worker_index(strategy: tf.distribute.Strategy) -> int:
  """This process's place among the workers (the chief first)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return 0
  chiefs = len(resolver.cluster_spec().as_dict().get("chief", []))
  if resolver.task_type == "chief":
    return 0
  return chiefs + resolver.task_id


def autoshard(dataset: tf.data.Dataset, sharded: bool) -> tf.data.Dataset:
  """How tf.distribute shards a dataset between workers: not at all when
  the dataset is this worker's own already (`sharded`: its own shard
  files), else by element (each worker keeps its share of the batches)."""
  policy = tf.data.experimental.AutoShardPolicy
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
    policy.OFF if sharded else policy.DATA
  )
  return dataset.with_options(options)
