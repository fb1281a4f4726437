"""Flags of the built-in synthetic log, shared by the experiment scripts.

`experiments/common.py` adopts them as its own (`--synthetic_requests` is a
flag of every script that trains), and builds the config's
`SyntheticConfig` with `config_from_flags`.
"""

from absl import flags

from multiobj.data import synthetic

SYNTHETIC_USERS = flags.DEFINE_integer(
  "synthetic_users",
  synthetic.SyntheticConfig.num_users,
  "Synthetic data: users.",
  lower_bound=1,
)
SYNTHETIC_ITEMS = flags.DEFINE_integer(
  "synthetic_items",
  synthetic.SyntheticConfig.num_items,
  "Synthetic data: catalogue items.",
  lower_bound=1,
)
SYNTHETIC_REQUESTS = flags.DEFINE_integer(
  "synthetic_requests",
  synthetic.SyntheticConfig.num_requests,
  "Synthetic data: impression lists (rows = requests x list size).",
  lower_bound=1,
)
SYNTHETIC_LIST_SIZE = flags.DEFINE_integer(
  "synthetic_list_size",
  synthetic.SyntheticConfig.list_size,
  "Synthetic data: items shown per request.",
  lower_bound=1,
)
CLICK_NOISE = flags.DEFINE_float(
  "click_noise",
  synthetic.SyntheticConfig.click_noise,
  "Synthetic data: expected share of clicks that are false positives, in [0, 1).",
  lower_bound=0.0,
  upper_bound=0.99,
)
CLICKBAIT = flags.DEFINE_float(
  "clickbait",
  synthetic.SyntheticConfig.clickbait,
  "Synthetic data: how false-positive clicks fall, 0 uniformly (accidents) to "
  "1 in proportion to each item's bait (click-bait titles).",
  lower_bound=0.0,
  upper_bound=1.0,
)
CONFLICT = flags.DEFINE_float(
  "click_purchase_conflict",
  synthetic.SyntheticConfig.click_purchase_conflict,
  "Synthetic data: c >= 0 makes click-bait items clicked more (relevance x "
  "bait^c) and bought less (purchase logit - 2c log bait); 0 for no conflict.",
  lower_bound=0.0,
)
SYNTHETIC_SEED = flags.DEFINE_integer(
  "synthetic_seed",
  0,
  "Synthetic data: seed of the generator (--seed leaves the data as is).",
)
POSITION_BIAS = flags.DEFINE_float(
  "position_bias",
  synthetic.SyntheticConfig.position_bias,
  "Synthetic data: examination exponent, P(examined | position p) = p^-eta.",
  lower_bound=0.0,
)


HISTORY_LENGTH = flags.DEFINE_integer(
  "synthetic_history_length",
  0,
  "Synthetic data: > 0 adds a query feature recent_clicks, the user's last "
  "clicked items before each request (at most this many).",
  lower_bound=0,
)
ITEM_VECTORS = flags.DEFINE_integer(
  "synthetic_item_vectors",
  0,
  "Synthetic data: > 0 adds a candidate feature item_vector of this width, "
  "each item's latent factors noised and projected (a text encoder's "
  "vector, say).",
  lower_bound=0,
)
ITEM_VECTOR_NOISE = flags.DEFINE_float(
  "synthetic_item_vector_noise",
  synthetic.SyntheticConfig.item_vector_noise,
  "Synthetic data: the item vectors' noise, in standard deviations of the "
  "latent factors.",
  lower_bound=0.0,
)


def config_from_flags() -> synthetic.SyntheticConfig:
  """The `SyntheticConfig` these flags describe."""
  return synthetic.SyntheticConfig(
    num_users=SYNTHETIC_USERS.value,
    num_items=SYNTHETIC_ITEMS.value,
    num_requests=SYNTHETIC_REQUESTS.value,
    list_size=SYNTHETIC_LIST_SIZE.value,
    click_noise=CLICK_NOISE.value,
    clickbait=CLICKBAIT.value,
    position_bias=POSITION_BIAS.value,
    click_purchase_conflict=CONFLICT.value,
    seed=SYNTHETIC_SEED.value,
    history_length=HISTORY_LENGTH.value,
    item_vectors=ITEM_VECTORS.value,
    item_vector_noise=ITEM_VECTOR_NOISE.value,
  )
