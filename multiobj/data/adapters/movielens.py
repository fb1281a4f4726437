"""MovieLens 100K ("ml-100k"): ratings as watched movies, likes and ratings.

Reads the original GroupLens files in `<data_dir>/ml-100k/`: u.data (100,000
ratings `user item rating timestamp`), u.item (1,682 movies, latin-1),
u.user (943 users) and u.genre (the names of the 19 genre flags).

Every row is a real rating, so there are no sampled negatives and every
objective applies to every row:

  retrieval  label `watched` (1 on every row): two-tower retrieval of the
             movies a user rated;
  like       label `like` = rating >= 4 (55% of the ratings);
  rating     label `rating`, the 1-5 star rating, regressed.

Features. Query: user_id (id), age (numeric), gender and occupation
(category); the zip code is not used. Candidate: item_id (id), genres
(multi_category, the names of the movie's genre flags joined by "|", e.g.
"Action|Comedy"), title (text, with the year as u.item writes it, "Toy Story
(1995)") and year (numeric, the year of u.item's release date, which can
differ from the title's: "Kolya (1996)" was released on 24-Jan-1997; the one
movie without a date, item 267 "unknown", gets the median year of the others,
1995).

Split by time (`splits.split_by_time`): the last 10% of the ratings by
timestamp are the test split, the 10% before them the validation split.
"""

import dataclasses
import datetime

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import spec as spec_lib
from multiobj.data import splits as splits_lib
from multiobj.data.adapters import files

NAME = "ml-100k"
FILES = ("u.data", "u.item", "u.user", "u.genre")

SPEC = spec_lib.DatasetSpec(
  name=NAME,
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("age", "query", "numeric"),
    spec_lib.Feature("gender", "query", "category"),
    spec_lib.Feature("occupation", "query", "category"),
    spec_lib.Feature("item_id", "candidate", "id"),
    spec_lib.Feature("genres", "candidate", "multi_category"),
    spec_lib.Feature("title", "candidate", "text"),
    spec_lib.Feature("year", "candidate", "numeric"),
  ),
  labels=("watched", "like", "rating"),
  item_id="item_id",
  user_id="user_id",
  timestamp="timestamp",
)

OBJECTIVES = (
  dataclasses.replace(
    objectives_lib.get("retrieval"),
    label="watched",
    description="two-tower retrieval of the movies a user rated",
  ),
  objectives_lib.get("like"),
  objectives_lib.get("rating"),
)


def load(data_dir: str, seed: int = 0) -> dataset_lib.Dataset:
  """Reads `<data_dir>/ml-100k` into a dataset split by time."""
  paths = files.locate(data_dir, NAME, FILES)
  ratings = files.read_ints(paths["u.data"], 4)
  users = _users(paths["u.user"])
  catalogue = _movies(paths["u.item"], paths["u.genre"])

  user_row = _rows_of(users["user_id"], ratings[:, 0], paths["u.user"])
  item_row = _rows_of(catalogue["item_id"], ratings[:, 1], paths["u.item"])
  rating = ratings[:, 2].astype(np.float32)
  rows = {
    **{name: column[user_row] for name, column in users.items()},
    **{name: column[item_row] for name, column in catalogue.items()},
    "timestamp": ratings[:, 3],
    "watched": np.ones(len(ratings), np.float32),
    "like": (rating >= 4).astype(np.float32),
    "rating": rating,
  }
  return dataset_lib.Dataset(
    spec=SPEC,
    splits=splits_lib.split_by_time(rows, SPEC, 0.1, 0.1),
    catalogue=catalogue,
    objectives=OBJECTIVES,
    info={
      "source": "MovieLens 100K, GroupLens Research (research use only)",
      "split": "by timestamp: last 10% test, the 10% before valid",
    },
  )


def _rows_of(ids, wanted, path):
  """Index of each of `wanted` in the sorted `ids`; all must be there."""
  rows = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
  missing = ids[rows] != wanted
  if missing.any():
    raise ValueError(
      f"Dataset {NAME!r}: u.data rates id {wanted[missing][0]}, which "
      f"{path} does not list."
    )
  return rows


def _users(path):
  # user | age | gender | occupation | zip code
  with open(path, encoding="latin-1") as f:
    fields = [line.rstrip("\n").split("|") for line in f if line.strip()]
  fields.sort(key=lambda f: int(f[0]))
  return {
    "user_id": np.array([int(f[0]) for f in fields], np.int64),
    "age": np.array([float(f[1]) for f in fields], np.float32),
    "gender": np.array([f[2] for f in fields], dtype=object),
    "occupation": np.array([f[3] for f in fields], dtype=object),
  }


def _movies(path, genre_path):
  # item | title | release date | video release date | IMDb URL | 19 flags
  with open(genre_path, encoding="latin-1") as f:
    genres = [line.split("|")[0] for line in f if line.strip()]
  with open(path, encoding="latin-1") as f:
    fields = [line.rstrip("\n").split("|") for line in f if line.strip()]
  fields.sort(key=lambda f: int(f[0]))
  years = np.array([_year(f[2]) for f in fields], np.float64)
  years[np.isnan(years)] = np.median(years[~np.isnan(years)])
  flags = [f[5:] for f in fields]
  return {
    "item_id": np.array([int(f[0]) for f in fields], np.int64),
    "genres": np.array(
      [
        "|".join(g for g, on in zip(genres, flag, strict=True) if on == "1")
        for flag in flags
      ],
      dtype=object,
    ),
    "title": np.array([f[1] for f in fields], dtype=object),
    "year": years.astype(np.float32),
  }


def _year(date):
  """The year of "01-Jan-1995", or NaN for an empty date."""
  if not date:
    return np.nan
  return float(datetime.datetime.strptime(date, "%d-%b-%Y").year)
