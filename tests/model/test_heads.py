"""Ranking heads of objectives that follow another (purchase given click):
the product's logit, and the conditional and entire-space (ESMM) losses."""

import numpy as np
import tensorflow as tf

from multiobj.model import heads
from multiobj.prepare import lists
from tests import tiny


class ProductLogitTest(tf.test.TestCase):
  def test_product_logit_is_the_logit_of_the_product(self):
    a, b = np.meshgrid(np.linspace(-30, 30, 41), np.linspace(-30, 30, 41))
    a, b = (
      tf.constant(a.ravel(), tf.float32),
      tf.constant(b.ravel(), tf.float32),
    )
    with tf.GradientTape() as tape:
      tape.watch([a, b])
      logit = heads.product_logit(a, b)
    sa = 1 / (1 + np.exp(-a.numpy().astype(np.float64)))
    sb = 1 / (1 + np.exp(-b.numpy().astype(np.float64)))
    p = sa * sb
    # Where float32 can tell p from 1, the logit matches float64's.
    finite = p < 0.999
    expected = np.log(p[finite]) - np.log1p(-p[finite])
    self.assertAllClose(logit.numpy()[finite], expected, rtol=1e-4, atol=1e-3)
    for gradient in tape.gradient(logit, [a, b]):
      self.assertTrue(np.isfinite(gradient.numpy()).all())


class FunnelHeadsTest(tf.test.TestCase):
  def test_entire_space_purchase_never_exceeds_click(self):
    prepared = tiny.prepared(funnels="purchase:click:entire")
    model = tiny.model(prepared)
    batch = tiny.batch(prepared)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
    for _ in range(3):
      model.train_step(batch)
    predictions = model.predictions(model(batch))
    self.assertTrue(
      np.all(predictions["purchase"].numpy() <= predictions["click"].numpy())
    )
    # And the product is what is predicted.
    outputs = model(batch)
    self.assertAllClose(
      predictions["purchase"],
      tf.sigmoid(outputs["click"])
      * tf.sigmoid(outputs["purchase" + heads.CONDITIONAL]),
    )

  def test_conditional_and_entire_losses_by_hand(self):
    for space, funnels in (
      ("given", "purchase:click"),
      ("entire", "purchase:click:entire"),
    ):
      prepared = tiny.prepared(funnels=funnels)
      model = tiny.model(prepared)
      batch = tiny.batch(prepared)
      outputs = model(batch)
      loss = model.compute_loss(batch)["purchase"].value
      mask = batch[lists.MASK].numpy()
      label = batch["purchase"].numpy()
      click_p = tf.sigmoid(outputs["click"]).numpy()
      cvr_p = tf.sigmoid(outputs["purchase" + heads.CONDITIONAL]).numpy()
      if space == "given":
        # p(purchase | click) on clicked rows only.
        p, rows = cvr_p, mask * (batch["click"].numpy() > 0)
      else:
        p, rows = click_p * cvr_p, mask
      bce = -(label * np.log(p) + (1 - label) * np.log(1 - p))
      self.assertAllClose(loss, (bce * rows).sum() / rows.sum(), rtol=1e-4)


if __name__ == "__main__":
  tf.test.main()
