"""JSON dataset descriptions: loading, joins, training, and each bad input."""

import copy
import json
import os
import re

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

import objectives as objectives_lib
from multiobj import config as config_lib
from multiobj import experiment
from multiobj.data import loaders
from multiobj.data.description import keys as description_keys
from multiobj.data.description import loader as description

REPO = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
COLUMNS = [
  {"name": "user_id", "role": "user_id"},
  {"name": "item_id", "role": "item_id"},
  {"name": "request_id", "role": "list_id"},
  {"name": "ts", "role": "timestamp"},
  {"name": "country", "role": "query", "type": "category"},
  {"name": "age", "role": "query", "type": "numeric"},
  {"name": "category", "role": "candidate", "type": "category"},
  {"name": "price", "role": "candidate", "type": "numeric", "transform": "log1p"},
  {"name": "tags", "role": "candidate", "type": "multi_category"},
  {"name": "title", "role": "candidate", "type": "text"},
  {"name": "position", "role": "context", "type": "category", "serving_value": 1},
  {"name": "click", "role": "label", "objective": ["click", "retrieval"]},
  {"name": "dwell", "role": "label", "objective": "dwell"},
  {"name": "liked", "role": "label", "objective": "like", "source": "rating", "threshold": 4},
]  # fmt: skip
SHOP = {
  "name": "shop",
  "rows": {"path": "rows.csv"},
  "catalogue": {"path": "items.csv"},
  "users": {"path": "users.jsonl"},
  "columns": COLUMNS,
  "split": {"method": "time", "valid": 0.2, "test": 0.2},
}


def write_shop(folder, rows=None, items=None, users=None, **changes):
  """A small shop log: 120 requests of 4 items; returns the JSON's path."""
  rng = np.random.default_rng(0)
  if users is None:
    country, age = rng.choice(["DE", "FR", "US"], 30), rng.integers(18, 70, 30)
    users = "".join(
      json.dumps(
        {"user_id": f"u{u}", "country": country[u], "age": int(age[u])}
      )
      + "\n"
      for u in range(30)
    )
  if items is None:
    items = "item_id,category,price,tags,title\n" + "".join(
      f'{i},{["food", "toys", "books"][i % 3]},{1.5 + i},a|b{i % 2},'
      f'"Item {i}, the best"\n'
      for i in range(20)
    )
  if rows is None:
    lines = ["request_id,ts,user_id,item_id,position,click,dwell,rating"]
    for r in range(120):
      user = f"u{rng.integers(30)}"
      for p, item in enumerate(rng.choice(20, 4, replace=False), start=1):
        click = int(rng.random() < 0.3)
        dwell = round(float(rng.exponential(30)), 1) if click else 0
        rating = rng.integers(1, 6)
        lines.append(f"{r},{r * 60},{user},{item},{p},{click},{dwell},{rating}")
    rows = "\n".join(lines) + "\n"
  for name, text in (("rows.csv", rows), ("items.csv", items)):
    with open(os.path.join(folder, name), "w") as f:
      f.write(text)
  with open(os.path.join(folder, "users.jsonl"), "w") as f:
    f.write(users)
  shop = copy.deepcopy(SHOP)
  shop.update(changes)
  path = os.path.join(folder, "shop.json")
  with open(path, "w") as f:
    json.dump(shop, f)
  return path


class DescriptionTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.folder = self.create_tempdir().full_path

  def test_trains_one_epoch_through_the_json_loader(self):
    path = write_shop(self.folder)
    config = config_lib.TrainConfig(
      model_dir=os.path.join(self.folder, "run")
    ).replace(dataset="json", dataset_spec=path, epochs=1, batch_size=32)
    result = experiment.run(config, verbose=0)
    self.assertCountEqual(
      result.metrics,
      [
        "click_auc",
        "click_logloss",
        "click_ndcg@10",
        "retrieval_recall@10",
        "retrieval_recall@50",
        "retrieval_recall@100",
        "dwell_rmse",
        "dwell_mae",
        "like_auc",
        "like_logloss",
      ],
    )
    self.assertEqual(result.data["catalogue"]["items"], 20)
    # 120 requests split by time: 72 train, 24 valid, 24 test lists.
    self.assertEqual(result.data["train"]["rows"], 72 * 4)
    self.assertEqual(result.data["info"]["description"], path)

  def test_position_role_enables_propensity_weighting(self):
    columns = [
      {"name": "position", "role": "position"} if c["name"] == "position" else c
      for c in COLUMNS
    ]
    path = write_shop(self.folder, columns=columns)
    data = description.load(path)
    self.assertEqual(data.spec.position, "position")
    self.assertEqual(data.spec.feature("position").serving_value, 1)
    config = config_lib.TrainConfig(
      model_dir=os.path.join(self.folder, "run")
    ).replace(
      dataset="json",
      dataset_spec=path,
      epochs=1,
      batch_size=32,
      propensity="em",
    )
    self.assertLen(experiment.run(config, verbose=0).propensities, 4)

  def test_joins_catalogue_and_users_and_derives_labels(self):
    data = description.load(write_shop(self.folder))
    self.assertEqual(
      [o.name for o in data.objectives], ["click", "retrieval", "dwell", "like"]
    )
    dwell = data.objectives[2]
    self.assertEqual((dwell.label, dwell.mask), ("dwell", "click"))
    self.assertEqual(data.objectives[3].label, "liked")
    rows = np.concatenate([data.splits[s]["item_id"] for s in data.splits])
    self.assertLen(rows, 480)
    train = data.split("train")
    # Candidate features come from the catalogue, by item id.
    np.testing.assert_allclose(train["price"], 1.5 + train["item_id"])
    self.assertEqual(train["title"][0], f"Item {train['item_id'][0]}, the best")
    # Query features come from the users file, by user id.
    with open(os.path.join(self.folder, "users.jsonl")) as f:
      country = {u["user_id"]: u["country"] for u in map(json.loads, f)}
    self.assertEqual(
      list(train["country"]), [country[u] for u in train["user_id"]]
    )
    self.assertEqual(sorted(data.catalogue), ["category", "item_id", "price", "tags", "title"])  # fmt: skip
    self.assertLen(data.catalogue["item_id"], 20)

  def test_threshold_label(self):
    rows = "request_id,ts,user_id,item_id,position,click,dwell,rating\n" + "".join(
      f"{r},{r},u1,{r % 20},1,1,5,{r % 5 + 1}\n" for r in range(40)
    )  # fmt: skip
    data = description.load(write_shop(self.folder, rows=rows))
    for table in data.splits.values():
      # rating 1..5 from r % 5; "liked" is rating >= 4.
      expected = (table["ts"] % 5 + 1 >= 4).astype(np.float32)
      np.testing.assert_array_equal(table["liked"], expected)

  def test_catalogue_from_rows_random_and_file_splits(self):
    rows = "user,item,genre,click\n" + "".join(
      f"u{i % 7},{i % 11},{'ab'[i % 11 % 2]},{i % 2}\n" for i in range(60)
    )
    with open(os.path.join(self.folder, "log.csv"), "w") as f:
      f.write(rows)
    columns = [
      {"name": "user", "role": "user_id"},
      {"name": "item", "role": "item_id", "type": "category"},
      {"name": "genre", "role": "candidate", "type": "category"},
      {"name": "click", "role": "label", "objective": "click"},
    ]
    spec = {"rows": {"path": "log.csv"}, "columns": columns}
    spec["negatives"] = {"per_positive": 2, "distribution": "uniform"}
    path = os.path.join(self.folder, "log.json")
    with open(path, "w") as f:
      json.dump(spec, f)
    data = description.load(path, seed=3)
    self.assertEqual(data.spec.name, "log")
    self.assertEqual(data.negatives.per_positive, 2)
    self.assertEqual(list(data.catalogue["item"]), list(range(11)))
    self.assertEqual(list(data.catalogue["genre"]), list("abababababa"))
    self.assertEqual({s: len(t["item"]) for s, t in data.splits.items()}, {"train": 48, "valid": 6, "test": 6})  # fmt: skip
    # The seed moves the random split; the same seed repeats it.
    again = description.load(path, seed=3).split("test")["user"]
    other = description.load(path, seed=4).split("test")["user"]
    self.assertEqual(list(again), list(data.split("test")["user"]))
    self.assertNotEqual(list(other), list(again))
    spec["split"] = {"method": "files", "test": {"path": "log.csv"}}
    with open(path, "w") as f:
      json.dump(spec, f)
    data = description.load(path)
    self.assertEqual(sorted(data.splits), ["test", "train"])

  def test_rows_from_a_glob_of_files(self):
    path = write_shop(self.folder)
    with open(os.path.join(self.folder, "rows.csv")) as f:
      header, *lines = f.read().splitlines()
    os.makedirs(os.path.join(self.folder, "logs"))
    for part, chunk in enumerate((lines[:300], lines[300:])):
      with open(os.path.join(self.folder, "logs", f"part{part}.csv"), "w") as f:
        f.write("\n".join([header, *chunk]) + "\n")
    with open(path) as f:
      shop = json.load(f)
    shop["rows"] = {"path": "logs/*.csv"}
    with open(path, "w") as f:
      json.dump(shop, f)
    whole = description.load(write_shop(self.create_tempdir().full_path))
    parts = description.load(path)
    for split in ("train", "valid", "test"):
      self.assertEqual(
        list(parts.split(split)["item_id"]), list(whole.split(split)["item_id"])
      )
    # A bad value is reported in its own file, at its row there.
    with open(os.path.join(self.folder, "logs", "part1.csv"), "a") as f:
      f.write("999,0,u1,3,1,1,5.0,five\n")
    second = os.path.join("logs", "part1.csv")
    with self.assertRaisesRegex(
      ValueError,
      re.escape(second) + r": column 'rating' is numeric, but row 181 holds "
      r"'five' \(1 such rows\)",
    ):
      description.load(path)

  def test_data_dir_placeholder(self):
    write_shop(self.folder)
    shop = copy.deepcopy(SHOP)
    shop["rows"] = {"path": "{data_dir}/rows.csv"}
    path = os.path.join(self.create_tempdir().full_path, "elsewhere.json")
    for side in ("catalogue", "users"):
      shop[side]["path"] = os.path.join(self.folder, shop[side]["path"])
    with open(path, "w") as f:
      json.dump(shop, f)
    self.assertLen(description.load(path, self.folder).catalogue["item_id"], 20)
    with self.assertRaisesRegex(ValueError, r"rows\.path: uses \{data_dir\}"):
      description.load(path)

  @parameterized.named_parameters(
    ("unknown_type", {"columns": "c5:type=nmeric"},
     r"shop\.json: columns\[5\]\.type: unknown type 'nmeric'; expected one "
     r"of id, category, multi_category, numeric, text, history, embedding\."),
    ("unknown_key", {"catalog": {"path": "x.csv"}},
     r"shop\.json: catalog: unknown key; expected one of .*; did you mean 'catalogue'\?"),
    ("wrong_type", {"split": {"method": "random", "valid": "10%"}},
     r"shop\.json: split\.valid: expected a number, got \"10%\""),
    ("unknown_role", {"columns": "c0:role=usr"},
     r"columns\[0\]\.role: unknown role 'usr'; expected one of query, "),
    ("unknown_objective", {"columns": "c11:objective=clik"},
     r"columns\[11\]\.objective: Unknown objective 'clik'\. Known objectives:"),
    ("key_of_another_role", {"columns": "c11:transform=log1p"},
     r"columns\[11\]\.transform: unknown key; expected one of name, role, "),
    ("transform_not_numeric", {"columns": "c6:transform=log1p"},
     r"columns\[6\]\.transform: applies to numeric columns only"),
    ("no_serving_value", {"columns": "c10:serving_value=-"},
     r"columns\[10\]: context features, and only they, need a serving_value"),
    ("mask_not_a_label", {"columns": "c11:role=-"},
     r"columns\[\d+\]\.objective: 'dwell' learns where label 'click' is "
     r"positive, which is not a label here"),
    ("split_shares", {"split": {"method": "time", "valid": 0.5, "test": 0.5}},
     r"shop\.json: split: needs valid >= 0, test > 0, valid \+ test < 1"),
    ("bad_loss", {"columns": "c12:loss=bce"},
     r"columns\[12\]\.objective: Objective 'dwell' is a regression objective; "
     r"loss 'bce' serves binary"),
    ("no_item_id", {"columns": "c1:role=-"},
     r"shop\.json: catalogue: joining items needs a column with role "
     r"'item_id'\."),
    ("negatives_with_lists", {"negatives": {"per_positive": 2}},
     r"shop\.json: negatives: sampling needs rows without a list_id"),
    ("bad_negatives", {"negatives": {"distribution": "zipf"}},
     r"negatives\.distribution: unknown distribution 'zipf'; expected one of "
     r"uniform, popularity"),
  )  # fmt: skip
  def test_description_errors(self, changes, message):
    # A loss's kind is checked where its module is loaded (else later, by
    # the run's `select`): load it, whatever ran before in this process.
    objectives_lib.get_loss("bce")
    changes = dict(changes)
    if "columns" in changes:
      entry, _, edit = changes.pop("columns").partition(":")
      key, _, value = edit.partition("=")
      columns = copy.deepcopy(COLUMNS)
      index = int(entry[1:])
      if key == "role" and value == "-":
        del columns[index]
      elif value == "-":
        del columns[index][key]
      else:
        columns[index][key] = value
      changes["columns"] = columns
    with self.assertRaisesRegex(ValueError, message):
      description.load(write_shop(self.folder, **changes))

  def test_json_errors(self):
    path = os.path.join(self.folder, "bad.json")
    with open(path, "w") as f:
      f.write('{"rows": {"path": "x.csv"},\n "columns": [}')
    with self.assertRaisesRegex(
      ValueError, r"bad\.json: line 2, column 14: invalid JSON"
    ):
      description.load(path)
    with self.assertRaisesRegex(ValueError, r"nope\.json: cannot read it"):
      description.load(os.path.join(self.folder, "nope.json"))
    with open(path, "w") as f:
      json.dump({"columns": []}, f)
    with self.assertRaisesRegex(
      ValueError, r"bad\.json: \(top level\): missing key 'rows'"
    ):
      description.load(path)

  def _rows(self, edit):
    """The default rows with `edit(lines)` applied."""
    folder = self.create_tempdir().full_path
    write_shop(folder)
    with open(os.path.join(folder, "rows.csv")) as f:
      lines = f.read().splitlines()
    edit(lines)
    return "\n".join(lines) + "\n"

  def test_data_errors(self):
    def replace(row, old, new):
      def edit(lines):
        lines[row] = re.sub(old, new, lines[row], count=1)

      return edit

    def drop_column(lines):
      lines[:] = [line.rsplit(",", 1)[0] for line in lines]

    rows_file = r"shop\.json: rows: .*rows\.csv: "
    cases = {
      "missing column": (
        {"rows": self._rows(drop_column)},
        rows_file + r"missing column 'rating'; columns present: click, ",
      ),
      "text in numeric": (
        {"rows": self._rows(replace(3, r",[\d.]+$", ",five"))},
        rows_file + r"column 'rating' is numeric, but row 3 holds 'five'",
      ),
      "empty file": (
        {"rows": ""},
        r"shop\.json: rows: .*rows\.csv: the file is empty",
      ),
      "null id": (
        {"rows": self._rows(replace(5, r"^(\d+,\d+),u\d+,", r"\1,,"))},
        rows_file + r"column 'user_id' \(id\) is empty at row 5 \(1 such rows\)",
      ),
      "missing catalogue item": (
        {"rows": self._rows(replace(2, r"^(\d+,\d+,u\d+),\d+,", r"\1,99,"))},
        rows_file + r"row 2: item 99 is not in the catalogue file .*items\.csv",
      ),
      "missing user": (
        {"rows": self._rows(replace(4, r",u\d+,", ",nobody,"))},
        rows_file + r"row 4: user 'nobody' is not in the users file",
      ),
      "duplicate catalogue ids": (
        {"items": "item_id,category,price,tags,title\n1,a,1,x,t\n2,a,1,x,t\n1,b,2,y,u\n"},
        r"shop\.json: catalogue: .*items\.csv: column 'item_id': id 1 is on "
        r"rows 1 and 3; each id needs exactly one row",
      ),
      "inf in the catalogue": (
        {"items": "item_id,category,price,tags,title\n" + "".join(
          f"{i},a,{'inf' if i == 7 else i},x,t\n" for i in range(20)
        )},
        r"shop\.json: catalogue: .*items\.csv: column 'price' is numeric, "
        r"but row 8 holds inf, not a finite number in float32 \(1 such rows\)",
      ),
      "number beyond float32": (
        {"rows": self._rows(replace(9, r",[\d.]+$", ",1e39"))},
        rows_file + r"column 'rating' is numeric, but row 9 holds 1e\+39, not "
        r"a finite number in float32",
      ),
      "label out of range": (
        {"rows": self._rows(replace(7, r",\d,([\d.]+),(\d)$", r",2,\1,\2"))},
        r"shop\.json: Dataset 'shop', split '\w+': label 'click' of "
        r"objective 'click' must be 0 or 1; row \d+ has 2",
      ),
    }  # fmt: skip
    for name, (files, message) in cases.items():
      with self.subTest(name):
        folder = self.create_tempdir().full_path
        with self.assertRaisesRegex(ValueError, message):
          description.load(write_shop(folder, **files))

  def test_varying_candidate_feature_without_catalogue(self):
    path = os.path.join(self.folder, "log.json")
    with open(os.path.join(self.folder, "log.csv"), "w") as f:
      f.write("user,item,genre,click\nu1,7,a,1\nu2,7,b,0\nu3,8,a,0\n")
    columns = [
      {"name": "user", "role": "user_id"},
      {"name": "item", "role": "item_id"},
      {"name": "genre", "role": "candidate", "type": "category"},
      {"name": "click", "role": "label", "objective": "click"},
    ]
    with open(path, "w") as f:
      json.dump({"rows": {"path": "log.csv"}, "columns": columns}, f)
    with self.assertRaisesRegex(
      ValueError,
      r"log\.json: rows: .*log\.csv: candidate feature 'genre' varies for "
      r"item 7 \('a', 'b'\)",
    ):
      description.load(path)

  def test_loader_needs_a_description(self):
    config = config_lib.TrainConfig(model_dir=self.folder).replace(
      dataset="json"
    )
    with self.assertRaisesRegex(
      ValueError,
      r"Dataset 'json' needs a JSON description: pass --dataset_spec",
    ):
      loaders.DATASETS.get("json")(config.data, config.seed)

  def test_every_key_is_documented(self):
    with open(os.path.join(REPO, "docs", "dataset_spec.md")) as f:
      doc = f.read()
    schemas = [
      description_keys.TOP,
      description_keys.SIDE_TABLE,
      description_keys.NEGATIVES,
      description_keys.OBJECTIVE,
      description_keys.ROWS_TABLE,
      description_keys.EVALUATION,
      description_keys.HOLD_OUT,
      description_keys.RETRIEVAL,
    ]
    schemas += [
      *description_keys.COLUMNS.values(),
      *description_keys.SPLITS.values(),
    ]
    for keys in schemas:
      for key in keys:
        self.assertIn(f"`{key}`", doc)
    for role in description_keys.ROLES:
      self.assertIn(f"`{role}`", doc)

  def test_mind_example(self):
    data_dir = os.environ.get(
      "MULTIOBJ_DATA", os.path.join(REPO, "..", "shared", "data")
    )
    if not os.path.isdir(os.path.join(data_dir, "mind_sample")):
      self.skipTest(
        f"no MIND sample under {data_dir} (set MULTIOBJ_DATA to the folder "
        "holding mind_sample/)."
      )
    path = os.path.join(REPO, "docs", "examples", "mind_sample.json")
    data = description.load(path, data_dir)
    self.assertEqual(sum(len(t["label"]) for t in data.splits.values()), 8000)
    self.assertLen(data.catalogue["News_ID"], 1921)
    self.assertEqual([o.name for o in data.objectives], ["click", "retrieval"])
