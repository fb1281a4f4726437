"""From a loaded dataset to what the model trains on: `TrainData`.

resolve.py      the run's objectives for its dataset (selection, loss
                overrides, inverse-propensity weights, funnels);
lists.py        rows to impression lists, lists to tf.data batches;
cold_start.py   items held out of training;
negatives.py    sampled negatives for logs of positives only;
propensity.py   position-bias propensities and their weights;
train_data.py   `prepare(data, config)`: all of it, in order, frozen.
"""
