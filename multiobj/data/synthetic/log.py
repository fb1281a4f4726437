"""A synthetic impression log with known ground truth.

The built-in dataset: it needs no download and looks like the log of a real
feed. Users (id, country, device, age) and items (id, category, price, a short
title drawn from topic vocabularies) live in a latent space; the ground-truth
relevance of an item to a user is

  r(u, i) = sigmoid(3 <z_u, z_i> + quality_i - sensitivity_u * price_i' - 4)

with `price_i'` the standardised log price and `sensitivity_u` larger for
young users and Android devices. A logging policy shows `list_size` items per
request: a candidate generator samples 50 by popularity and relevance, and a
ranker orders them by relevance seen through noise, so top slots hold more
relevant items, as in a real log. A share of requests shows its items shuffled
(a randomisation bucket, for propensity estimation). Feedback follows the cascade-free examination model:

  click     = examined(position) * attracted(r)  +  false positives
  examined ~ Bernoulli((1 / position) ** position_bias)
  attracted ~ Bernoulli(r)

A false-positive click lands on an examined item that did not attract the
user, either by accident (uniformly) or lured by the item's bait, which shows
as bait words in its title (`clickbait` sets the mix); their rate is set so
that a share `click_noise` of all clicks is noise.
Dwell time exists only for clicks: log-normal with a median rising from 20 s
to 80 s with relevance, and about 4 s for false positives. Purchases follow
real clicks only, more likely for relevant and cheap items.

The ground truth stays in the data (`true_relevance`, `examination`,
`noise_click`) so denoising and debiasing can be judged against truth. The
column `randomized` marks the randomisation bucket; unlike the truth, a real
log has it too.
Everything is drawn from one seed: the same config gives the same data.

The population (users, items, their activity) is drawn once; the requests
are drawn in chunks of at most `REQUESTS_PER_CHUNK` (`chunks`), each in its
own time window, so a log of any size can be written chunk by chunk
(`shards.write_shards`) in bounded memory. `generate` concatenates the
chunks; a log of one chunk is drawn exactly as before chunks existed.
"""

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterator

import numpy as np

import objectives as objectives_lib
from multiobj.data import dataset as dataset_lib
from multiobj.data import history, vectors
from multiobj.data import splits as splits_lib
from multiobj.data.synthetic import population
from multiobj.data.synthetic.config import (
  DEFAULT_OBJECTIVES,
  SyntheticConfig,
  spec_for,
)

# Requests drawn at once; a chunk of rows is this times `list_size` rows.
REQUESTS_PER_CHUNK = 100_000
_LATENT_DIM = 16
_CHUNK = 2048  # Requests scored against the whole catalogue at once.
_POOL = 50  # Candidates the logging ranker orders per request.
_TOPICS = list(population.TOPICS)


@dataclasses.dataclass(frozen=True)
class Population:
  """Who comes to the feed and what it can show; drawn once per log.

  Attributes:
    users: {name: [num_users, ...]}, see `population.draw_users`.
    items: {name: [num_items, ...]}, see `population.draw_items`.
    activity: [num_users] how often each user comes back (relative weights).
    rng_state: The state of the generator after these draws. Chunk 0
      continues it, so a log of one chunk is drawn from one stream in one
      order, the order the log had before it was drawn in chunks.
  """

  users: dict[str, np.ndarray]
  items: dict[str, np.ndarray]
  activity: np.ndarray
  rng_state: dict


def draw_population(config: SyntheticConfig) -> Population:
  """Topic centers, users, items and user activity, from `config.seed`."""
  rng = np.random.default_rng(config.seed)
  centers = population.unit_rows(rng.normal(size=(len(_TOPICS), _LATENT_DIM)))
  users = population.draw_users(rng, config.num_users, centers)
  items = population.draw_items(rng, config.num_items, centers, _TOPICS)
  activity = rng.lognormal(0.0, 1.0, config.num_users)
  return Population(users, items, activity, rng.bit_generator.state)


def num_chunks(config: SyntheticConfig) -> int:
  """How many chunks `chunks` yields: at most `REQUESTS_PER_CHUNK` each."""
  return -(-config.num_requests // REQUESTS_PER_CHUNK)


def chunks(
  config: SyntheticConfig, pop: Population | None = None
) -> Iterator[dataset_lib.Table]:
  """The log's rows, a chunk of requests at a time, oldest first.

  The `num_chunks(config)` chunks hold nearly equal numbers of requests
  (sizes differ by at most one) and split the `num_days` into equal time
  windows, chunk c drawing its request times uniformly in window c, so the
  requests are uniform in time over the whole log and time increases across
  chunks. Chunk 0 continues the population's generator; chunk c >= 1 draws
  from its own `np.random.default_rng([config.seed, c])`, so each chunk can
  be drawn without the ones before it, and memory depends on the chunk size,
  not on `num_requests`. `request_id` counts requests over the whole log.

  The false-click rate is solved per chunk: `click_noise` is a share of
  clicks in expectation, so each chunk meets it in expectation on its own.

  Args:
    config: The log.
    pop: Its population, `draw_population(config)`; drawn when not given.

  Yields:
    {column: [rows]}, the columns of `generate`'s splits, one row per shown
    item, requests in time order.
  """
  pop = pop if pop is not None else draw_population(config)
  count = num_chunks(config)
  span = config.num_days * 86400
  for c in range(count):
    if c == 0:  # The population's generator, from where it stopped.
      rng = np.random.default_rng(config.seed)
      rng.bit_generator.state = pop.rng_state
    else:
      rng = np.random.default_rng([config.seed, c])
    start = c * config.num_requests // count
    stop = (c + 1) * config.num_requests // count
    window = (c * span // count, (c + 1) * span // count)
    yield _draw_chunk(rng, config, pop, start, stop - start, window)


def catalogue(pop: Population) -> dataset_lib.Table:
  """Every item, one row each: id, category, price, title."""
  items = pop.items
  return {
    "item_id": np.arange(len(items["title"]), dtype=np.int64),
    "category": np.asarray(_TOPICS, dtype=object)[items["category"]],
    "price": items["price"].astype(np.float32),
    "title": items["title"],
  }


def generate(
  config: SyntheticConfig = SyntheticConfig(),
) -> dataset_lib.Dataset:
  """Draws the log described by `config` in memory, split by time."""
  pop = draw_population(config)
  parts = list(chunks(config, pop))
  rows = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
  del parts
  path = ""
  if config.item_vectors:
    path = write_item_vectors(config, pop, _scratch(config))
  spec = spec_for(config, path)
  rows = vectors.add_columns(history.add_built(rows, spec), spec)
  return dataset_lib.Dataset(
    objectives=tuple(objectives_lib.select(DEFAULT_OBJECTIVES)),
    spec=spec,
    splits=splits_lib.split_by_time(
      rows, spec, valid_share=config.valid_share, test_share=config.test_share
    ),
    catalogue=vectors.add_columns(catalogue(pop), spec),
  )


def write_item_vectors(config: SyntheticConfig, pop, folder: str) -> str:
  """The items' vectors (`population.item_vectors`) as `folder`'s
  item_vectors.npz; returns its path."""
  found = population.item_vectors(
    pop.items, config.item_vectors, config.item_vector_noise, config.seed
  )
  # Whole, whichever process writes it last.
  return vectors.write_npz(
    os.path.join(folder, "item_vectors.npz"),
    np.arange(len(found), dtype=np.int64),
    found,
  )


def _scratch(config):
  """Where the in-memory log keeps its item vectors' file: a folder of the
  temporary directory named by the config (the model reads the file once,
  at preparation; a trained model keeps the vectors in its checkpoint)."""
  key = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
  return os.path.join(tempfile.gettempdir(), "multiobj-synthetic", key)


def _draw_chunk(rng, config, pop, start, n, window):
  """The rows of requests start..start + n - 1, times in `window`."""
  users, items = pop.users, pop.items
  requests = _draw_requests(rng, config, pop, n, window)
  shown, relevance = _log_impressions(
    rng, config, users, items, requests["user"], requests["device"]
  )
  k = shown.shape[1]
  # The randomisation bucket shows the same items in a uniformly random order.
  randomized = rng.random(n) < config.randomized_share
  order = np.where(
    randomized[:, None], np.argsort(rng.random((n, k)), axis=1), np.arange(k)
  )
  shown = np.take_along_axis(shown, order, 1)
  relevance = np.take_along_axis(relevance, order, 1)
  feedback = _feedback(rng, config, users, items, requests, shown, relevance)

  request = np.repeat(np.arange(n), k)  # Within the chunk.
  uid = requests["user"][request]
  item = shown.reshape(-1)
  return {
    "request_id": (request + start).astype(np.int64),
    "timestamp": requests["time"][request].astype(np.int64),
    "user_id": uid.astype(np.int64),
    "country": np.asarray(population.COUNTRIES, dtype=object)[
      users["country"][uid]
    ],
    "device": np.asarray(population.DEVICES, dtype=object)[
      requests["device"][request]
    ],
    "age": users["age"][uid].astype(np.float32),
    "item_id": item.astype(np.int64),
    "category": np.asarray(_TOPICS, dtype=object)[items["category"][item]],
    "price": items["price"][item].astype(np.float32),
    "title": items["title"][item],
    "position": feedback.pop("position").reshape(-1).astype(np.int64),
    "randomized": np.repeat(randomized, k).astype(np.float32),
    **{
      name: column.reshape(-1).astype(np.float32)
      for name, column in feedback.items()
    },
  }


def _draw_requests(rng, config, pop, n, window):
  """Requests: active users come back more often; time increases."""
  activity = pop.activity
  user = rng.choice(config.num_users, n, p=activity / activity.sum())
  time = np.sort(rng.integers(window[0], window[1], n))
  primary = rng.random(n) < 0.85
  device = np.where(
    primary,
    pop.users["device"][user],
    rng.integers(0, len(population.DEVICES), n),
  )
  return {"user": user, "time": time, "device": device}


def _feedback(rng, config, users, items, requests, shown, relevance):
  """Clicks (real and false), dwell time and purchases on the shown items,
  with the ground truth: {column: [n, k]}, position first."""
  n, k = shown.shape
  position = np.broadcast_to(np.arange(1, k + 1), (n, k))
  examination = (1.0 / position) ** config.position_bias
  examined = rng.random((n, k)) < examination
  bait = items["bait"][shown]
  # With a conflict, bait attracts clicks beyond relevance (see the config).
  attraction = np.minimum(1.0, relevance * bait**config.click_purchase_conflict)
  attracted = rng.random((n, k)) < attraction
  real_click = examined & attracted
  # A false-positive click lands on an examined, unattractive item with
  # probability min(1, eps * lure), lure mixing uniform accidents and the
  # item's bait; eps is solved so that noise is `click_noise` of all clicks in
  # expectation: E[e (1 - r) min(1, eps lure)] = s / (1 - s) E[e r].
  lure = (1 - config.clickbait) + config.clickbait * bait
  noise_rate = _solve_noise_rate(
    config.click_noise,
    examination * attraction,
    examination * (1 - attraction),
    lure,
  )
  noise_click = examined & ~attracted & (rng.random((n, k)) < noise_rate)
  click = real_click | noise_click

  log_dwell = np.where(
    noise_click, np.log(4.0), np.log(20.0) + np.log(4.0) * relevance
  ) + rng.normal(0.0, 0.6, (n, k))
  dwell = np.where(click, np.round(np.exp(log_dwell), 1), 0.0)

  device = requests["device"]
  sensitivity = users["sensitivity"][requests["user"]] + 0.3 * (device == 1)
  price_z = items["price_z"][shown]
  purchase_logit = (
    -4.5
    + 3.0 * relevance
    - 1.2 * sensitivity[:, None] * price_z
    - 2.0 * config.click_purchase_conflict * np.log(bait)
  )
  purchase = real_click & (rng.random((n, k)) < _sigmoid(purchase_logit))
  return {
    "position": position,
    "click": click,
    "dwell": dwell,
    "purchase": purchase,
    "true_relevance": relevance,
    "examination": examination,
    "noise_click": noise_click,
  }


def _solve_noise_rate(share, real, unattractive, lure):
  """Per-impression false-click probability min(1, eps * lure) giving noise
  `share` of all clicks in expectation; eps by bisection (monotone)."""
  if share == 0:
    return np.zeros_like(lure)
  target = share / (1 - share) * real.sum()
  if np.sum(unattractive * (lure > 0)) < target:
    raise ValueError(
      f"synthetic click_noise={share} is unreachable: even clicking every "
      "examined, unattractive item gives fewer false positives; lower it."
    )
  low, high = 0.0, 1.0
  while np.sum(unattractive * np.minimum(1.0, high * lure)) < target:
    high *= 2
  for _ in range(60):
    mid = (low + high) / 2
    if np.sum(unattractive * np.minimum(1.0, mid * lure)) < target:
      low = mid
    else:
      high = mid
  return np.minimum(1.0, high * lure)


def _log_impressions(rng, config, users, items, req_user, req_device):
  """The logging policy: a candidate generator, then a noisy ranker.

  The generator takes the top `_POOL` items of popularity plus relevance plus
  Gumbel noise (a sample without replacement); the ranker orders the pool by
  relevance seen through Gaussian noise and shows the best `list_size`. So,
  as in a real log, top slots hold somewhat more relevant items.
  """
  n, k = len(req_user), config.list_size
  pool = max(k, min(_POOL, len(items["popularity"])))
  shown = np.empty((n, k), dtype=np.int64)
  relevance = np.empty((n, k), dtype=np.float64)
  for start in range(0, n, _CHUNK):
    stop = min(start + _CHUNK, n)
    logits = _relevance_logits(
      users, items, req_user[start:stop], req_device[start:stop]
    )
    gumbel = -np.log(-np.log(rng.random(logits.shape)))
    generator = 0.8 * items["popularity"] + logits + gumbel
    candidates = np.argpartition(-generator, pool - 1, axis=1)[:, :pool]
    estimate = np.take_along_axis(logits, candidates, 1)
    estimate = estimate + rng.normal(0.0, 1.0, estimate.shape)
    top = np.take_along_axis(
      candidates, np.argsort(-estimate, axis=1)[:, :k], 1
    )
    shown[start:stop] = top
    relevance[start:stop] = _sigmoid(np.take_along_axis(logits, top, 1))
  return shown, relevance


def _relevance_logits(users, items, user_index, device):
  affinity = users["latent"][user_index] @ items["latent"].T
  sensitivity = users["sensitivity"][user_index] + 0.3 * (device == 1)
  return (
    3.0 * affinity
    + items["quality"][None, :]
    - sensitivity[:, None] * items["price_z"][None, :]
    - 4.0
  )


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))
