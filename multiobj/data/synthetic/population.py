"""The population of the synthetic log: users and items in a latent space.

Users have interests over topics, a country, a device, an age and a price
sensitivity; items a topic (their category), a quality, a price, an exposure
popularity and a bait that lures accidental clicks and shows in their title,
drawn from the topics' vocabularies. Everything is drawn from the `rng` the
log passes in, in a fixed order, so one seed gives one population.
"""

import numpy as np

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


def draw_users(rng, num_users, centers):
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


def draw_items(rng, num_items, centers, topics):
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


def unit_rows(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def item_vectors(items, width: int, noise: float, seed: int) -> np.ndarray:
  """[items, width] float32: each item's latent factors plus Gaussian noise
  of `noise` standard deviations of the factors, through a fixed random
  projection: what a text encoder might give, related to relevance but
  neither the factors nor their scale."""
  rng = np.random.default_rng([seed, 7])
  latent = items["latent"]
  noisy = latent + rng.normal(0.0, noise * latent.std(), latent.shape)
  projection = rng.normal(0.0, 1.0, (latent.shape[1], width))
  return (noisy @ projection / np.sqrt(latent.shape[1])).astype(np.float32)
