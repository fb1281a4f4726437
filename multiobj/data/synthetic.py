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
"""

import dataclasses

import numpy as np

import objectives as objectives_lib
from multiobj import schema
from multiobj.data import dataset as dataset_lib

TOPICS = {
  "sports": "match goal league coach striker final season champion stadium "
  "derby transfer injury keeper title score cup racing marathon tennis golf",
  "technology": "phone laptop chip software update battery camera robot "
  "cloud startup app processor screen gadget wireless smart code server ai",
  "cooking": "recipe pasta chicken soup bread oven spicy vegan dessert salad "
  "garlic grill curry sauce baking cheese noodle breakfast kitchen",
  "travel": "beach flight hotel island mountain city guide tour cruise hike "
  "road trip village coast camping museum passport luggage resort",
  "finance": "stock market bank interest loan budget tax savings crypto "
  "invest fund inflation pension mortgage credit trading dividend bond",
  "fashion": "dress jacket shoes denim summer style trend designer coat "
  "sneakers leather handbag vintage silk linen outfit scarf boots",
  "music": "album concert guitar band singer tour vinyl jazz rock playlist "
  "piano festival chart lyrics drummer acoustic orchestra remix",
  "movies": "film trailer actor director sequel premiere cinema thriller "
  "comedy drama horror award series episode streaming cast studio",
  "gaming": "console level quest boss multiplayer controller patch arcade "
  "esports strategy shooter puzzle rpg speedrun mod pixel dungeon",
  "health": "sleep workout yoga diet vitamin running stress heart doctor "
  "protein fitness meditation stretch hydration clinic therapy",
  "home": "garden sofa lamp kitchen decor plant paint furniture storage "
  "bedroom rug tiles cleaning shelf candle curtain patio",
  "science": "space planet physics climate ocean fossil telescope energy "
  "quantum species genome lab volcano galaxy rocket research",
}
GENERIC_WORDS = (
  "new best top guide how why you this the ultimate simple quick easy week "
  "today review big small first great real"
).split()
# Words of click-bait titles; the baitier an item, the more of them it has.
BAIT_WORDS = "shocking secret unbelievable insane trick revealed".split()
COUNTRIES = ("US", "DE", "FR", "BR", "IN", "JP", "GB", "ES")
DEVICES = ("ios", "android", "web")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """Size and behaviour of the synthetic log.

  Attributes:
    num_users: Users in the population.
    num_items: Items in the catalogue.
    num_requests: Impression lists; rows = num_requests * list_size.
    list_size: Items shown per request, at positions 1..list_size.
    click_noise: Expected share of clicks that are false positives, in [0, 1).
    clickbait: How false positives fall, in [0, 1]: 0 spreads them uniformly
      over examined, unattractive items (accidental clicks); 1 in proportion
      to each item's bait, which shows in its title (click-bait).
    position_bias: Exponent of the examination model (1 / position) ** eta;
      0 means every position is examined.
    click_purchase_conflict: c >= 0, a controlled conflict between click and
      purchase through each item's bait b (mean 1, visible in its title): an
      examined item attracts a real click with probability min(1,
      relevance * b^c) and its purchase logit drops by 2 c log b, so
      click-bait items are clicked more and bought less. The ground truth
      (true_relevance) is unchanged; 0 (the default) leaves the log as it
      was.
    randomized_share: Share of requests whose items are shown in random order.
    num_days: Days the log spans; the split is by time.
    valid_share: Share of the latest requests held out for validation...
    test_share: ...and for the test, after the validation share.
    seed: Seed of every random draw.
  """

  num_users: int = 5000
  num_items: int = 2000
  num_requests: int = 30000
  list_size: int = 10
  click_noise: float = 0.2
  clickbait: float = 0.5
  position_bias: float = 1.0
  click_purchase_conflict: float = 0.0
  randomized_share: float = 0.05
  num_days: int = 30
  valid_share: float = 0.1
  test_share: float = 0.1
  seed: int = 0

  def __post_init__(self):
    for name in (
      "num_users",
      "num_items",
      "num_requests",
      "list_size",
      "num_days",
    ):
      if getattr(self, name) < 1:
        raise ValueError(
          f"synthetic {name} must be >= 1, got {getattr(self, name)}."
        )
    if self.list_size > self.num_items:
      raise ValueError(
        f"synthetic list_size ({self.list_size}) exceeds num_items "
        f"({self.num_items})."
      )
    if not 0 <= self.clickbait <= 1:
      raise ValueError(
        f"synthetic clickbait must be in [0, 1], got {self.clickbait}."
      )
    if not 0 <= self.click_noise < 1:
      raise ValueError(
        f"synthetic click_noise must be in [0, 1), got {self.click_noise}."
      )
    if self.click_purchase_conflict < 0:
      raise ValueError(
        "synthetic click_purchase_conflict must be >= 0, got "
        f"{self.click_purchase_conflict}."
      )
    if self.position_bias < 0:
      raise ValueError(
        f"synthetic position_bias must be >= 0, got {self.position_bias}."
      )
    if not 0 <= self.randomized_share <= 1:
      raise ValueError(
        f"synthetic randomized_share must be in [0, 1], got {self.randomized_share}."
      )
    if (
      self.valid_share < 0
      or self.test_share <= 0
      or self.valid_share + self.test_share >= 1
    ):
      raise ValueError(
        "synthetic valid_share and test_share must be >= 0 and > 0 with a sum "
        f"below 1, got {self.valid_share} and {self.test_share}."
      )


SPEC = schema.DatasetSpec(
  name="synthetic",
  features=(
    schema.Feature("user_id", "query", "id"),
    schema.Feature("country", "query", "category"),
    schema.Feature("device", "query", "category"),
    schema.Feature("age", "query", "numeric"),
    schema.Feature("item_id", "candidate", "id"),
    schema.Feature("category", "candidate", "category"),
    schema.Feature("price", "candidate", "numeric", transform="log1p"),
    schema.Feature("title", "candidate", "text"),
    schema.Feature("position", "context", "category", serving_value=1),
  ),
  labels=("click", "dwell", "purchase"),
  item_id="item_id",
  user_id="user_id",
  list_id="request_id",
  timestamp="timestamp",
  position="position",
  randomized="randomized",
  truth="true_relevance",
)

# The objectives the log's labels feed, and the default run's weights.
DEFAULT_OBJECTIVES = "retrieval:1,click:1,dwell:0.5,purchase:2"

_LATENT_DIM = 16
_CHUNK = 2048  # Requests scored against the whole catalogue at once.
_POOL = 50  # Candidates the logging ranker orders per request.


def generate(
  config: SyntheticConfig = SyntheticConfig(),
) -> dataset_lib.Dataset:
  """Draws the log described by `config`, split by time."""
  rng = np.random.default_rng(config.seed)
  topics = list(TOPICS)
  centers = _unit_rows(rng.normal(size=(len(topics), _LATENT_DIM)))

  users = _draw_users(rng, config.num_users, centers)
  items = _draw_items(rng, config.num_items, centers, topics)

  # Requests: active users come back more often; time increases.
  activity = rng.lognormal(0.0, 1.0, config.num_users)
  req_user = rng.choice(
    config.num_users, config.num_requests, p=activity / activity.sum()
  )
  req_time = np.sort(
    rng.integers(0, config.num_days * 86400, config.num_requests)
  )
  primary = rng.random(config.num_requests) < 0.85
  req_device = np.where(
    primary,
    users["device"][req_user],
    rng.integers(0, len(DEVICES), config.num_requests),
  )

  shown, relevance = _log_impressions(
    rng, config, users, items, req_user, req_device
  )
  n, k = shown.shape
  # The randomisation bucket shows the same items in a uniformly random order.
  randomized = rng.random(n) < config.randomized_share
  order = np.where(
    randomized[:, None], np.argsort(rng.random((n, k)), axis=1), np.arange(k)
  )
  shown = np.take_along_axis(shown, order, 1)
  relevance = np.take_along_axis(relevance, order, 1)

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

  sensitivity = users["sensitivity"][req_user] + 0.3 * (req_device == 1)
  price_z = items["price_z"][shown]
  purchase_logit = (
    -4.5
    + 3.0 * relevance
    - 1.2 * sensitivity[:, None] * price_z
    - 2.0 * config.click_purchase_conflict * np.log(bait)
  )
  purchase = real_click & (rng.random((n, k)) < _sigmoid(purchase_logit))

  request_id = np.repeat(np.arange(n), k)
  uid = req_user[request_id]
  rows = {
    "request_id": request_id.astype(np.int64),
    "timestamp": req_time[request_id].astype(np.int64),
    "user_id": uid.astype(np.int64),
    "country": np.asarray(COUNTRIES, dtype=object)[users["country"][uid]],
    "device": np.asarray(DEVICES, dtype=object)[req_device[request_id]],
    "age": users["age"][uid].astype(np.float32),
    "item_id": shown.reshape(-1).astype(np.int64),
    "category": np.asarray(topics, dtype=object)[
      items["category"][shown.reshape(-1)]
    ],
    "price": items["price"][shown.reshape(-1)].astype(np.float32),
    "title": items["title"][shown.reshape(-1)],
    "position": position.reshape(-1).astype(np.int64),
    "randomized": np.repeat(randomized, k).astype(np.float32),
    "click": click.reshape(-1).astype(np.float32),
    "dwell": dwell.reshape(-1).astype(np.float32),
    "purchase": purchase.reshape(-1).astype(np.float32),
    "true_relevance": relevance.reshape(-1).astype(np.float32),
    "examination": examination.reshape(-1).astype(np.float32),
    "noise_click": noise_click.reshape(-1).astype(np.float32),
  }
  catalogue = {
    "item_id": np.arange(config.num_items, dtype=np.int64),
    "category": np.asarray(topics, dtype=object)[items["category"]],
    "price": items["price"].astype(np.float32),
    "title": items["title"],
  }
  return dataset_lib.Dataset(
    objectives=tuple(objectives_lib.select(DEFAULT_OBJECTIVES)),
    spec=SPEC,
    splits=dataset_lib.split_by_time(
      rows, SPEC, valid_share=config.valid_share, test_share=config.test_share
    ),
    catalogue=catalogue,
  )


def _draw_users(rng, num_users, centers):
  num_topics, dim = centers.shape
  # Sparse interests: a few topics per user, plus a personal taste and a
  # small country effect, so every query feature carries some signal.
  interests = rng.dirichlet(np.full(num_topics, 0.3), num_users)
  country = rng.choice(
    len(COUNTRIES), num_users, p=[0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.06, 0.04]
  )
  country_shift = rng.normal(0.0, 0.4, (len(COUNTRIES), dim)) / np.sqrt(dim)
  latent = interests @ centers + country_shift[country]
  latent += rng.normal(0.0, 0.5, (num_users, dim)) / np.sqrt(dim)
  age = np.clip(18 + rng.gamma(2.5, 9.0, num_users), 18, 85).round()
  device = rng.choice(len(DEVICES), num_users, p=[0.4, 0.45, 0.15])
  sensitivity = np.clip(rng.normal(0.9 - 0.015 * (age - 18), 0.25), 0.0, None)
  return {
    "latent": latent,
    "country": country,
    "age": age,
    "device": device,
    "sensitivity": sensitivity,
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


def _draw_items(rng, num_items, centers, topics):
  num_topics, dim = centers.shape
  category = rng.choice(
    num_topics, num_items, p=rng.dirichlet(np.full(num_topics, 5.0))
  )
  latent = centers[category] + rng.normal(0.0, 0.6, (num_items, dim)) / np.sqrt(
    dim
  )
  quality = rng.normal(0.0, 0.5, num_items)
  log_price = rng.uniform(np.log(5), np.log(200), num_topics)[category]
  log_price = log_price + rng.normal(0.0, 0.5, num_items)
  price = np.round(np.exp(log_price), 2)
  price_z = (log_price - log_price.mean()) / log_price.std()
  # Exposure in the logging ranker: a heavy tail, partly earned by quality.
  popularity = quality + rng.normal(0.0, 1.0, num_items)
  # Bait: lures accidental clicks, unrelated to relevance; log-normal with
  # mean 1, and visible in the title as bait words.
  bait_z = rng.normal(0.0, 1.0, num_items)
  bait = np.exp(bait_z) / np.exp(bait_z).mean()
  num_bait_words = rng.binomial(2, 1.0 / (1.0 + np.exp(-(2.0 * bait_z - 2.0))))
  vocab = {topic: words.split() for topic, words in TOPICS.items()}
  titles = np.empty(num_items, dtype=object)
  for i in range(num_items):
    length = rng.integers(4, 9)
    source = rng.choice(3, length, p=[0.65, 0.1, 0.25])
    words = []
    for s in source:
      if s == 0:
        words.append(rng.choice(vocab[topics[category[i]]]))
      elif s == 1:
        words.append(rng.choice(vocab[topics[rng.integers(num_topics)]]))
      else:
        words.append(rng.choice(GENERIC_WORDS))
    words += list(rng.choice(BAIT_WORDS, num_bait_words[i]))
    titles[i] = " ".join(words).capitalize()
  return {
    "latent": latent,
    "category": category,
    "quality": quality,
    "price": price,
    "price_z": price_z,
    "popularity": popularity,
    "bait": bait,
    "title": titles,
  }


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


def _unit_rows(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))
