"""End to end on the files sequential and multi-behaviour papers publish:
a log of walks along the item ids (one user a line, a json_object
catalogue, a history trained at every position, leave one out) and a shop's
views, carts and buys (several tables of rows, a files split with a held-out
validation, boosted set histories, auxiliary retrieval objectives), each
trained, evaluated by full ranking, reloaded and exported
(docs/dataset_spec.md)."""

import functools
import json
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from multiobj import experiment
from multiobj.config import TrainConfig
from multiobj.data import loaders
from multiobj.evaluate import full_ranking, retrieval
from multiobj.model import sequence
from multiobj.prepare import cache, train_data, windows
from multiobj.prepare import lists as lists_lib
from multiobj.serve import export
from multiobj.train import run_dir

MASK = lists_lib.MASK
MAX_LENGTH = 8
WALKERS, SHELF = 60, 40  # Users and items of the walks.
SHOPPERS, STOCK = 50, 30  # Users and items of the shop.
BEHAVIOURS = ("view", "cart", "buy")
HISTORIES = {"view": "viewed", "cart": "carted", "buy": "bought"}
FULL_NDCG = "retrieval_full_ndcg@10"
SMALL = dict(dataset="json", batch_size=16, embedding_dim=8, tower_layers=())


def _write_lines(path, lines):
  with open(path, "w") as f:
    f.write("".join(" ".join(map(str, line)) + "\n" for line in lines))


def _next(item):
  """The item after `item` on the walk: 1, 2, ..., SHELF, 1, ..."""
  return item % SHELF + 1


def write_walks(folder):
  """Each user's walk: 5 to 15 items from a random start, each the one
  after the last (SASRec's file: the user, then the items in order);
  returns {user: [items]}."""
  rng = np.random.default_rng(0)
  walks = {}
  for user in range(1, WALKERS + 1):
    item = int(rng.integers(1, SHELF + 1))
    walks[user] = [item]
    for _ in range(int(rng.integers(5, 16)) - 1):
      walks[user].append(_next(walks[user][-1]))
  _write_lines(
    os.path.join(folder, "walks.txt"), [[u, *w] for u, w in walks.items()]
  )
  # S3-Rec's attributes: a list of them an item, or one as a plain string.
  attributes = {
    str(i): [f"shelf_{(i - 1) // 5}", "odd" if i % 2 else "even"]
    for i in range(1, SHELF)
  }
  attributes[str(SHELF)] = "shelf_7"
  with open(os.path.join(folder, "attributes.json"), "w") as f:
    json.dump(attributes, f)
  return walks


def write_walks_description(folder, candidates=None):
  """The walks' description, retrieval `candidates` ({"candidates":
  "catalogue"} unless given); its path."""
  path = os.path.join(folder, "walks.json")
  with open(path, "w") as f:
    json.dump(
      {
        "name": "walks",
        "rows": {
          "path": "walks.txt",
          "format": "user_items",
          "columns": ["user_id", "item_id", "position"],
          "labels": {"bought": 1},
        },
        "catalogue": {
          "path": "attributes.json",
          "format": "json_object",
          "columns": ["item_id", "attributes"],
        },
        "columns": [
          {"name": "user_id", "role": "user_id"},
          {"name": "item_id", "role": "item_id"},
          {"name": "position", "role": "order"},
          {"name": "attributes", "role": "candidate", "type": "multi_category"},
          {
            "name": "recent",
            "role": "query",
            "type": "history",
            "built_from": "bought",
            "max_length": MAX_LENGTH,
            "encoder": "self_attention(blocks=1,heads=1,dropout=0.1)",
          },
          {"name": "bought", "role": "label", "objective": "retrieval"},
        ],
        "split": {"method": "leave_one_out"},
        "retrieval": candidates or {"candidates": "catalogue"},
        "evaluation": {"protocol": "full_ranking"},
      },
      f,
    )
  return path


def _user_items(name, **labels):
  return {
    "path": f"{name}.txt",
    "format": "user_items",
    "columns": ["user_id", "item_id"],
    "labels": labels,
  }


def write_shop(folder):
  """Each user views 4 to 8 items, carts and buys 1 to 3 of them; the test
  file holds one purchase a user, most often of an item viewed. Returns
  {behaviour: {user: [items]}}."""
  rng = np.random.default_rng(1)
  log = {name: {} for name in (*BEHAVIOURS, "test")}
  for user in range(1, SHOPPERS + 1):
    viewed = rng.choice(np.arange(1, STOCK + 1), rng.integers(4, 9), False)
    log["view"][user] = viewed.tolist()
    log["cart"][user] = viewed[: rng.integers(1, 4)].tolist()
    log["buy"][user] = rng.permutation(viewed)[: rng.integers(1, 4)].tolist()
    again = rng.random() < 0.7
    log["test"][user] = [
      int(rng.choice(viewed) if again else rng.integers(1, STOCK + 1))
    ]
  for name, by_user in log.items():
    _write_lines(
      os.path.join(folder, f"{name}.txt"), [[u, *i] for u, i in by_user.items()]
    )
  return log


def write_shop_description(folder):
  def history(behaviour):
    return {
      "name": HISTORIES[behaviour],
      "role": "query",
      "type": "history",
      "built_from": behaviour,
      "max_length": 20,
      "boost": True,
    }

  def table(name, positive):
    return _user_items(name, **{b: int(b == positive) for b in BEHAVIOURS})

  path = os.path.join(folder, "shop.json")
  with open(path, "w") as f:
    json.dump(
      {
        "name": "shop",
        "rows": [table(b, b) for b in BEHAVIOURS],
        "columns": [
          {"name": "user_id", "role": "user_id"},
          {"name": "item_id", "role": "item_id"},
          *(history(b) for b in BEHAVIOURS),
          {"name": "buy", "role": "label", "objective": "retrieval"},
          {
            "name": "cart",
            "role": "label",
            "objective": {"kind": "retrieval", "name": "cart_retrieval"},
            "weight": 0.5,
          },
          {
            "name": "view",
            "role": "label",
            "objective": {"kind": "retrieval", "name": "view_retrieval"},
            "weight": 0.25,
          },
        ],
        "split": {
          "method": "files",
          "test": _user_items("test", buy=1),
          "valid": {"hold_out": "buy"},
        },
        "retrieval": {"candidates": "catalogue"},
        "evaluation": {
          "protocol": "full_ranking",
          "mask": ["train"],
          "mask_label": "buy",
        },
      },
      f,
    )
  return path


def _run(folder, path, name, **changes):
  """(the config, the run's result) of a small run on the description at
  `path`, in `folder`/`name`."""
  config = TrainConfig(model_dir=os.path.join(folder, name)).replace(
    **{**SMALL, "dataset_spec": path, "data_dir": folder, **changes}
  )
  return config, experiment.run(config, verbose=0)


def _prepared(config):
  """The run's prepared data, read back from its cache."""
  data, why = cache.load(
    os.path.join(config.model_dir, run_dir.PREPARED), config
  )
  assert data is not None, why
  return data


def _metrics_json(config):
  with open(os.path.join(config.model_dir, run_dir.METRICS)) as f:
    return json.load(f)


def _root(name):
  folder = os.path.join(tf.compat.v1.test.get_temp_dir(), name)
  os.makedirs(folder, exist_ok=True)
  return folder


@functools.cache
def _walks_run():
  """(walks, config, result) of the walks' run, trained once for every
  test here: 2 epochs against the whole catalogue."""
  folder = _root("walks")
  walks = write_walks(folder)
  path = write_walks_description(folder)
  return (walks, *_run(folder, path, "run", epochs=2))


@functools.cache
def _shop_run():
  """(log, config, result) of the shop's run, trained once: 1 epoch on
  every objective."""
  folder = _root("shop")
  log = write_shop(folder)
  path = write_shop_description(folder)
  return (log, *_run(folder, path, "run", epochs=1, batch_size=32))


class SequenceRunTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.walks, self.config, self.result = _walks_run()

  def test_training_lists_are_windows_of_each_users_walk(self):
    data = _prepared(self.config)
    train = data.sample("train", 10**6)
    events = windows.EVENTS + "recent"
    for name in ("item_id", MASK, events, "bought"):
      self.assertEqual(train[name].shape[1], MAX_LENGTH + 1, msg=name)
    # Leave one out keeps all but the last two items of a walk in
    # training; a walk of n of them gives (n - 1) // MAX_LENGTH + 1
    # windows, and each of its items is scored in exactly one.
    kept = {u: w[:-2] for u, w in self.walks.items()}
    users = train["user_id"]
    for user, items in kept.items():
      mine = users == user
      self.assertEqual(mine.sum(), (len(items) - 1) // MAX_LENGTH + 1, msg=user)
      scored = train["item_id"][mine][train[MASK][mine] > 0]
      self.assertCountEqual(scored, items, msg=user)
    for row in range(len(users)):
      # A window's rows are consecutive steps of one walk, every one an
      # event of the history; padding none.
      present = train[events][row] > 0
      self.assertAllEqual(present, train["item_id"][row] > 0)
      items = train["item_id"][row][present]
      self.assertAllEqual(items[1:], [_next(i) for i in items[:-1]])
    self.assertEqual(
      train[MASK].sum(), sum(len(items) for items in kept.values())
    )
    # The slots are the history: the column is empty in training.
    self.assertEqual(set(train["recent"].tolist()), {""})
    # Validation and test rows are lists of one, with their own history:
    # the items before them, the last MAX_LENGTH.
    test = data.sample("test", 10**6)
    self.assertEqual(test["item_id"].shape[1], 1)
    self.assertNotIn(events, test)
    for user, recent, item in zip(
      test["user_id"], test["recent"], test["item_id"][:, 0], strict=True
    ):
      walk = self.walks[user]
      self.assertEqual(item, walk[-1])
      expected = walk[:-1][-MAX_LENGTH:]
      self.assertEqual(recent, "|".join(map(str, expected)))
    summary = _metrics_json(self.config)["data"]
    self.assertEqual(summary["train"]["rows"], train[MASK].sum())
    self.assertEqual(summary["test"]["rows"], WALKERS)

  def test_baselines_also_read_the_served_history(self):
    every = _metrics_json(self.config)["retrieval_baselines"]
    for family in ("item-KNN", "EASE^R"):
      found = [
        n for n in every if n.startswith(family) and "served history" in n
      ]
      self.assertLen(found, 1, msg=(family, list(every)))
      self.assertTrue(np.isfinite(every[found[0]][FULL_NDCG]), msg=found)

  def test_the_kept_epoch_is_the_best_by_full_ranking_ndcg(self):
    saved = _metrics_json(self.config)
    self.assertTrue(np.isfinite(saved["metrics"][FULL_NDCG]))
    for k in (10, 20):
      for metric in ("recall", "ndcg", "precision"):
        self.assertIn(f"retrieval_full_{metric}@{k}", saved["metrics"])
    by_epoch = saved["history"][f"val_{FULL_NDCG}"]
    self.assertLen(by_epoch, 2)
    self.assertEqual(saved["best_epoch"], int(np.argmax(by_epoch)) + 1)
    self.assertEqual(self.result.best_epoch, saved["best_epoch"])
    self.assertEqual(saved["config"]["retrieval"]["candidates"], "catalogue")
    self.assertEqual(saved["data"]["full_ranking"]["mask"], ["train"])

  def test_the_reloaded_run_ranks_as_it_was_evaluated(self):
    model, config = run_dir.load_model(self.config.model_dir)
    data = train_data.prepare(loaders.load(config.data, config.seed), config)
    again = full_ranking.protocol_metrics(model, data.data, baselines=False)
    reported = {k: v for k, v in self.result.metrics.items() if "_full_" in k}
    self.assertCountEqual(again.metrics, reported)
    for name, value in reported.items():
      self.assertAllClose(again.metrics[name], value, atol=1e-6, msg=name)
    # On validation, the value the kept epoch was chosen by.
    valid = full_ranking.protocol_metrics(
      model, data.data, baselines=False, split="valid"
    )
    self.assertAllClose(
      valid.metrics[FULL_NDCG],
      self.result.history[f"val_{FULL_NDCG}"][self.result.best_epoch - 1],
      atol=1e-6,
    )


class SequenceVariantsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(
    (
      "sampled",
      {"candidates": "sampled", "samples": 8, "sampling": "uniform"},
      {},
    ),
    ("sampled_by_popularity", {"candidates": "sampled", "samples": 8}, {}),
    ("batch", {"candidates": "batch"}, {}),
    ("gru", None, {"history_encoder": "gru"}),
    ("mean", None, {"history_encoder": "mean"}),
  )
  def test_runs_and_ranks(self, candidates, changes):
    folder = self.create_tempdir().full_path
    write_walks(folder)
    path = write_walks_description(folder, candidates)
    config, result = _run(
      folder, path, "run", epochs=1, baselines="popularity", **changes
    )
    wanted = candidates or {"candidates": "catalogue"}
    resolved = result.config.retrieval
    self.assertEqual(resolved.candidates, wanted["candidates"])
    if "samples" in wanted:
      sampling = wanted.get("sampling", "popularity")  # The default.
      self.assertEqual((resolved.samples, resolved.sampling), (8, sampling))
    full = {k: v for k, v in result.metrics.items() if "_full_" in k}
    self.assertLen(full, 6)
    for name, value in full.items():
      self.assertTrue(np.isfinite(value), msg=name)
    self.assertTrue(np.isfinite(result.history["retrieval_loss"][0]))
    self.assertLen(result.history[f"val_{FULL_NDCG}"], 1)
    model, _ = run_dir.load_model(config.model_dir)
    recent = model.query_tower.encoder.by_feature["recent"].sequence
    expected = {
      "gru": sequence.GRU,
      "mean": sequence.Mean,
    }.get(changes.get("history_encoder"), sequence.SelfAttention)
    self.assertIsInstance(recent, expected)


class SequenceExportTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.walks, cls.config, _ = _walks_run()
    cls.model, _ = run_dir.load_model(cls.config.model_dir)
    cls.data = _prepared(cls.config)
    cls.catalogue = cls.data.data.catalogue
    cls.path = os.path.join(_root("walks"), "export")
    export.export(cls.model, cls.catalogue, cls.path, k=10)
    cls.retrieve = tf.saved_model.load(cls.path).signatures["retrieve"]

  def _served(self, users, histories):
    return self.retrieve(
      user_id=tf.constant(users, tf.int64), recent=tf.constant(histories)
    )

  def _towers(self, query):
    """[N, C] the towers' scores of every catalogue item for `query`
    ([N, D] query embeddings)."""
    items = retrieval.catalogue_embeddings(self.model, self.catalogue)
    return np.asarray(query) @ items.T

  def _assertTopOf(self, served, scores):
    ids = self.catalogue["item_id"]
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    self.assertAllClose(
      served["scores"], np.take_along_axis(scores, top, 1), atol=1e-5
    )
    self.assertAllEqual(served["ids"], ids[top])

  def test_retrieve_serves_the_towers_top_items(self):
    # A short history, one longer than max_length (its last 8 kept), an
    # empty one of a user never seen.
    users = [1, 7, 999]
    histories = ["3|4|5", "|".join(map(str, range(10, 22))), ""]
    served = self._served(users, histories)
    self.assertEqual(served["ids"].shape, (3, 10))
    query = self.model.query_tower(
      {
        "user_id": tf.constant(users, tf.int64),
        "recent": tf.constant(histories),
      }
    )
    self._assertTopOf(served, self._towers(query))
    # Beyond max_length only the last items count.
    last = self._served([7], ["|".join(map(str, range(14, 22)))])
    self.assertAllClose(last["scores"][0], served["scores"][1], atol=1e-5)

  def test_retrieve_serves_the_query_a_window_trained(self):
    # The query of a training window's last slot, from the events before
    # it, is what retrieve computes from those events as a history.
    train = self.data.sample("train", 10**6)
    rows = [0, len(train[MASK]) // 2, len(train[MASK]) - 1]
    batch = {k: tf.constant(v[rows]) for k, v in train.items()}
    query = self.model(batch, training=False)["query_embedding"].numpy()
    last = [np.flatnonzero(train[MASK][r] > 0)[-1] for r in rows]
    histories = [
      "|".join(map(str, train["item_id"][r][:slot]))
      for r, slot in zip(rows, last, strict=True)
    ]
    served = self._served(train["user_id"][rows], histories)
    window = query[np.arange(len(rows)), last]
    self._assertTopOf(served, self._towers(window))


class BehavioursTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.log, self.config, self.result = _shop_run()

  def _held_out(self):
    """{user: the purchase held out for validation}."""
    valid = _prepared(self.config).data.split("valid")
    return dict(zip(valid["user_id"], valid["item_id"], strict=True))

  def test_validation_holds_one_buy_of_each_user_with_two(self):
    held = self._held_out()
    buys = self.log["buy"]
    self.assertCountEqual(
      held, [u for u, items in buys.items() if len(items) > 1]
    )
    for user, item in held.items():
      self.assertIn(item, buys[user])
    data = _prepared(self.config).data
    train = data.split("train")
    bought = train["buy"] > 0
    for user, items in buys.items():
      mine = train["item_id"][bought & (train["user_id"] == user)]
      self.assertCountEqual(
        mine, [i for i in items if held.get(user) != i], msg=user
      )
    summary = _metrics_json(self.config)["data"]
    self.assertEqual(summary["valid"]["rows"], len(held))
    self.assertEqual(summary["valid"]["mean_buy"], 1.0)
    self.assertLen(self.result.history[f"val_{FULL_NDCG}"], 1)

  def test_the_boosts_bonus_is_trained(self):
    model, _ = run_dir.load_model(self.config.model_dir)
    self.assertEqual(model.boost.names, ["viewed", "carted", "bought"])
    bonus = model.boost.bonus.numpy()
    self.assertEqual(bonus.shape, (3,))
    # Initially 0; a step of Adam moves each by about the learning rate.
    self.assertTrue(np.all(np.abs(bonus) > 1e-4), bonus)

  def test_baselines_learn_from_every_behaviour(self):
    every = _metrics_json(self.config)["retrieval_baselines"]
    for family in ("item-KNN", "EASE^R"):
      found = [
        n
        for n in every
        if n.startswith(family) and n.endswith("every behaviour)")
      ]
      self.assertLen(found, 1, msg=(family, list(every)))
    self.assertIn("own items", every)
    self.assertIn(full_ranking.POPULARITY, every)
    for name, metrics in every.items():
      self.assertTrue(np.isfinite(metrics[FULL_NDCG]), msg=name)
    # Objectives whose labels the test file lacks have no test metric.
    self.assertIn(FULL_NDCG, self.result.metrics)
    for name in self.result.metrics:
      self.assertFalse(name.startswith(("cart_", "view_")), msg=name)

  def test_objectives_named_leave_the_views_out_of_training(self):
    folder = self.create_tempdir().full_path
    log = write_shop(folder)
    path = write_shop_description(folder)
    config, result = _run(
      folder,
      path,
      "run",
      epochs=1,
      batch_size=32,
      baselines="popularity",
      objective_weights="retrieval,cart_retrieval",
    )
    self.assertEqual(
      [o.name for o in result.config.objectives],
      ["retrieval", "cart_retrieval"],
    )
    data = _prepared(config)
    held = len(data.data.split("valid")["item_id"])
    counts = {b: sum(map(len, log[b].values())) for b in BEHAVIOURS}
    train = _metrics_json(config)["data"]["train"]
    self.assertEqual(train["rows"], sum(counts.values()) - held)
    self.assertEqual(
      train["rows_learnt_from"], counts["buy"] - held + counts["cart"]
    )
    lists = data.sample("train", 10**6)
    slots = lists[MASK] > 0
    self.assertEqual(slots.sum(), train["rows_learnt_from"])
    learnt = (lists["buy"] > 0) | (lists["cart"] > 0)
    self.assertAllEqual(learnt[slots], np.ones(slots.sum(), bool))
    # The views still feed the history: every user viewed an item, and no
    # row left in training is a view of its own.
    self.assertNotIn("", set(lists["viewed"].tolist()))
    self.assertEqual(
      train["rows_learnt_from"], data.summary["train"]["rows_learnt_from"]
    )
    model, _ = run_dir.load_model(config.model_dir)
    self.assertIn("viewed", model.query_tower.encoder.by_feature)
    self.assertEqual(model.boost.names, ["viewed", "carted", "bought"])

  def test_retrieve_adds_the_bonus_of_the_users_items(self):
    model, _ = run_dir.load_model(self.config.model_dir)
    catalogue = _prepared(self.config).data.catalogue
    path = self.create_tempdir().full_path
    export.export(model, catalogue, path, k=STOCK)
    retrieve = tf.saved_model.load(path).signatures["retrieve"]
    # User 1 viewed 4 and 7 and carted 7; user 2 did nothing we tell.
    features = {
      "user_id": tf.constant([1, 2], tf.int64),
      "viewed": tf.constant(["4|7", ""]),
      "carted": tf.constant(["7", ""]),
      "bought": tf.constant(["", ""]),
    }
    served = retrieve(**features)
    ids = catalogue["item_id"]
    items = retrieval.catalogue_embeddings(model, catalogue)
    towers = model.query_tower(features).numpy() @ items.T
    # k is the catalogue's size: every item's served score, by its row.
    row_of = {item: row for row, item in enumerate(ids)}
    scores = np.full_like(towers, np.nan)
    for query, found in enumerate(served["ids"].numpy()):
      self.assertCountEqual(found, ids)
      rows = [row_of[item] for item in found]
      scores[query, rows] = served["scores"][query]
    view, cart, _ = model.boost.bonus.numpy()
    expected = towers.copy()
    expected[0, ids == 4] += view
    expected[0, ids == 7] += view + cart
    self.assertAllClose(scores, expected, atol=1e-5)
    # The bonus is what a viewed item gains over the towers' score.
    self.assertAllClose(
      scores[0, ids == 4] - towers[0, ids == 4], [view], atol=1e-5
    )
    self.assertAllClose(scores[1], towers[1], atol=1e-5)


if __name__ == "__main__":
  tf.test.main()


class TypedSequenceTest(tf.test.TestCase):
  """One history of several behaviours in time order: each event carries
  its behaviour (`item:label`), windows mark it, the target behaviour is
  retrieved and the other is an auxiliary objective of the same towers."""

  def test_a_typed_sequence_trains_and_serves(self):
    folder = _root("typed")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(3)
    lines = ["user_id,item_id,time,view,buy"]
    for user in range(1, 41):
      item = int(rng.integers(1, 21))
      for step in range(int(rng.integers(6, 12))):
        bought = int(step % 3 == 2)  # Two views of an item, then its buy.
        lines.append(f"{user},{item},{step},{1 - bought},{bought}")
        if bought:
          item = item % 20 + 1
    with open(os.path.join(folder, "events.csv"), "w") as f:
      f.write("\n".join(lines) + "\n")
    description = {
      "rows": {"path": "events.csv"},
      "columns": [
        {"name": "user_id", "role": "user_id", "feature": False},
        {"name": "item_id", "role": "item_id"},
        {"name": "time", "role": "timestamp"},
        {"name": "seen", "role": "query", "type": "history",
         "built_from": ["view", "buy"], "max_length": 6,
         "encoder": "self_attention(blocks=1,dropout=0.0)"},
        {"name": "buy", "role": "label",
         "objective": {"kind": "retrieval", "name": "retrieval"}},
        {"name": "view", "role": "label", "weight": 0.5,
         "objective": {"kind": "retrieval", "name": "view_retrieval"}},
      ],
      "split": {"method": "leave_one_out"},
      "retrieval": {"candidates": "catalogue"},
    }  # fmt: skip
    path = os.path.join(folder, "events.json")
    with open(path, "w") as f:
      json.dump(description, f)
    config = TrainConfig(model_dir=os.path.join(folder, "run")).replace(
      dataset_spec=path, epochs=1, baselines="popularity", **SMALL
    )
    result = experiment.run(config, verbose=0)
    self.assertTrue(np.isfinite(result.metrics["retrieval_recall@10"]))
    self.assertIn("view_retrieval_loss", result.history)
    lists = train_data.prepare(
      loaders.load(config.data, 0), result.config
    ).lists["train"]
    events = lists[windows.EVENTS + "seen"][lists[MASK] > 0]
    # Views are 1 + 0, buys 1 + 1.
    self.assertCountEqual(np.unique(events), [1, 2])
    model, _ = run_dir.load_model(config.model_dir)
    query = model.query_tower(
      {"seen": tf.constant(["3:view|3:view|3:buy", "3:view|3:wish", ""])}
    ).numpy()
    self.assertTrue(np.isfinite(query).all())
    # The behaviour changes the query: a view is not a purchase.
    other = model.query_tower({"seen": tf.constant(["3:view|3:view|3:view"])})
    self.assertNotAllClose(query[0], other.numpy()[0])
