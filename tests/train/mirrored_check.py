"""Run as a script: one training step under a mirrored strategy over two
logical CPU devices against the same step on one device.

Prints JSON: each task's loss of the global batch computed both ways, and the
largest difference of any weight after one SGD step. A separate process,
because logical devices must be set before TensorFlow sets up its devices.

  python -m tests.train.mirrored_check [--nogather | --both]
"""

import json
import sys

from multiobj.train import distribution

distribution.split_cpu(2)

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from multiobj import config as config_lib  # noqa: E402
from multiobj.data import synthetic  # noqa: E402
from multiobj.model import features as features_lib  # noqa: E402
from multiobj.model import model as model_lib  # noqa: E402
from multiobj.model import step  # noqa: E402
from multiobj.prepare import lists as lists_lib  # noqa: E402
from multiobj.prepare import train_data  # noqa: E402


def main(gather: bool):
  tf.keras.utils.set_random_seed(0)
  config = config_lib.TrainConfig(model_dir="/tmp/unused").replace(
    synthetic=synthetic.SyntheticConfig(
      num_users=300, num_items=200, num_requests=400, seed=3
    ),
    model=config_lib.ModelConfig(
      embedding_dim=8,
      tower_layers=(16,),
      trunk_layers=(16,),
      head_layers=(8,),
      trunk="mmoe(experts=2)",
    ),
    retrieval=config_lib.RetrievalConfig(
      hard_negatives=True,
      uniform_negatives=2,
      cross_replica_negatives=gather,
    ),
    funnels="purchase:click:entire",
    # A ranking loss averages over lists with a click, which the replicas
    # hold in unequal numbers: its share must come from its own denominator.
    losses="click:softmax",
  )
  data = synthetic.generate(config.data.synthetic)
  prepared = train_data.prepare(data, config)
  config, data = prepared.config, prepared.data
  stats = features_lib.compute_stats(data.spec, data.split("train"), 100)
  batch = next(iter(prepared.train_dataset().unbatch().batch(16)))
  batch = {k: v for k, v in batch.items()}

  def build():
    model = model_lib.MultiObjectiveModel(
      data.spec, stats, config.objectives, config.model, config.retrieval
    )
    model.compile(optimizer=tf.keras.optimizers.SGD(0.5))
    return model

  single = build()
  single(batch)
  strategy = distribution.make_strategy("mirrored")
  with strategy.scope():
    mirrored = build()
  dataset = tf.data.Dataset.from_tensors(batch)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
    tf.data.experimental.AutoShardPolicy.OFF
  )
  per_replica = next(
    iter(
      strategy.experimental_distribute_dataset(dataset.with_options(options))
    )
  )
  strategy.run(lambda b: mirrored(b), args=(per_replica,))
  mirrored.set_weights(single.get_weights())

  def losses_of(model, inputs):
    # Each replica's estimate of the global batch's loss, as the train step
    # combines them: the replicas' mean is the global batch's loss.
    return step.global_losses(model.compute_loss(inputs, training=True))

  one = {k: float(v) for k, v in losses_of(single, batch).items()}
  replicas = strategy.run(lambda b: losses_of(mirrored, b), args=(per_replica,))
  two = {
    k: float(strategy.reduce("MEAN", v, axis=None)) for k, v in replicas.items()
  }
  sizes = [
    int(tf.shape(x)[0])
    for x in strategy.experimental_local_results(per_replica[lists_lib.MASK])
  ]

  def trainable(model):
    return [v.numpy() for v in model.trainable_variables]

  before = trainable(single)
  single.train_step(batch)
  strategy.run(mirrored.train_step, args=(per_replica,))
  after = trainable(single)
  difference = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(after, trainable(mirrored), strict=True)
  )
  moved = max(
    float(np.max(np.abs(a - b))) for a, b in zip(after, before, strict=True)
  )
  print(
    json.dumps(
      {
        "replicas": strategy.num_replicas_in_sync,
        "lists_per_replica": sizes,
        "single": one,
        "mirrored": two,
        "weight_difference": difference,
        "largest_step": moved,
        "objectives": [
          dataclasses.asdict(o)["name"] for o in config.objectives
        ],
      }
    )
  )


if __name__ == "__main__":
  if "--both" in sys.argv[1:]:
    # Two strategies with different collectives in one process, as in a
    # grid of runs.
    main(gather=True)
    main(gather=False)
  else:
    main(gather="--nogather" not in sys.argv[1:])
