"""The synthetic log's settings (`SyntheticConfig`) and its dataset spec."""

import dataclasses

from multiobj.data import spec as spec_lib


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
    history_length: If > 0, a query feature `recent_clicks`: the user's
      last clicked items before each request, at most this many, built from
      the log (`history.add_built`).
    item_vectors: If > 0, a candidate feature `item_vector` of this width:
      each item's latent factors, noised, through a fixed random projection,
      standing in for a text encoder's vector of the item...
    item_vector_noise: ...with noise of this many standard deviations of
      the latent factors (0: the factors themselves, projected).
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
  history_length: int = 0
  item_vectors: int = 0
  item_vector_noise: float = 1.0

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
    if self.history_length < 0 or self.item_vectors < 0:
      raise ValueError(
        "synthetic history_length and item_vectors must be >= 0, got "
        f"{self.history_length} and {self.item_vectors}."
      )
    if self.item_vector_noise < 0:
      raise ValueError(
        f"synthetic item_vector_noise must be >= 0, got {self.item_vector_noise}."
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


SPEC = spec_lib.DatasetSpec(
  name="synthetic",
  features=(
    spec_lib.Feature("user_id", "query", "id"),
    spec_lib.Feature("country", "query", "category"),
    spec_lib.Feature("device", "query", "category"),
    spec_lib.Feature("age", "query", "numeric"),
    spec_lib.Feature("item_id", "candidate", "id"),
    spec_lib.Feature("category", "candidate", "category"),
    spec_lib.Feature("price", "candidate", "numeric", transform="log1p"),
    spec_lib.Feature("title", "candidate", "text"),
    spec_lib.Feature("position", "context", "category", serving_value=1),
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


def spec_for(
  config: SyntheticConfig, vectors: str = ""
) -> spec_lib.DatasetSpec:
  """`SPEC` with the features `config` adds: the recent clicks, and the
  item vectors (`vectors`, their file)."""
  added = []
  if config.history_length:
    added.append(
      spec_lib.Feature(
        "recent_clicks",
        "query",
        "history",
        max_length=config.history_length,
        built_from="click",
      )
    )
  if config.item_vectors:
    added.append(
      spec_lib.Feature(
        "item_vector",
        "candidate",
        "embedding",
        vectors=vectors,
        vectors_key=SPEC.item_id,
      )
    )
  return SPEC.replace(features=SPEC.features + tuple(added))
