"""The sweep: search space, Pareto front, and real sweeps on tiny data."""

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import wsgiref.util

import optuna_dashboard
from absl import app, flags
from absl.testing import absltest, flagsaver, parameterized

from experiments import sweep as sweep_script
from multiobj.studies import sweep

FLAGS = flags.FLAGS
ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# Waits poll their condition until it holds, however slow the machine; this
# bound only keeps a broken test from hanging forever, it judges no speed.
HANG_SECONDS = 30 * 60
TINY = (
  "--synthetic_requests=300 --synthetic_users=100 --synthetic_items=60 "
  "--epochs=1"
)

# Stands in for experiments/train.py where a test needs many quick trials:
# history.jsonl an epoch (val_click_loss = lr * epoch), then metrics.json
# (click_auc = 1 - lr). Some learning rates misbehave on purpose.
FAKE_TRAIN = """
import json, math, os, signal, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
lr, model_dir = float(args["learning_rate"]), args["model_dir"]
if lr == 0.6:
  raise ValueError("learning rate 0.6 is cursed")
if lr == 0.7:
  os.kill(os.getpid(), signal.SIGKILL)  # As the out-of-memory killer does.
for epoch in range(1, int(args.get("epochs", 1)) + 1):
  with open(os.path.join(model_dir, "history.jsonl"), "a") as f:
    f.write(json.dumps({"epoch": epoch, "val_click_loss": lr * epoch}) + "\\n")
  time.sleep(0.3)
auc = None if lr == 0.8 else 1 - lr  # None: NaN, as training writes it.
with open(os.path.join(model_dir, "metrics.json"), "w") as f:
  json.dump({"metrics": {"click_auc": auc, "click_logloss": lr}}, f)
from absl import flags
with open(os.path.join(model_dir, "process.json"), "w") as f:
  json.dump({"parent": os.getppid(), "cwd": os.getcwd(),
             "tensorflow": "tensorflow" in sys.modules, "argv": sys.argv,
             "worker_flag": "worker_only" in flags.FLAGS}, f)
"""

# A worker started as a script (by a relative path) that defines a required
# flag of its own, as experiments/sweep.py does.
WORKER = """
import os, sys
from absl import flags
flags.DEFINE_string("worker_only", None, "A flag of the worker's script.")
flags.mark_flag_as_required("worker_only")
flags.FLAGS(sys.argv[:2])
from multiobj.studies import sweep
print(os.getpid(), flush=True)
sweep.run(sweep.SweepConfig.from_json(sys.argv[2]))
"""


def _get(app, path):
  """The JSON body of a GET of `path` from the WSGI `app`."""
  environ = {}
  wsgiref.util.setup_testing_defaults(environ)
  environ["PATH_INFO"] = path
  answer = {}

  def start_response(status, headers, exc_info=None):
    answer["status"] = status

  body = b"".join(app(environ, start_response))
  if not answer["status"].startswith("200"):
    raise AssertionError(f"GET {path}: {answer['status']}: {body[:200]}")
  return json.loads(body)


def docstring_example(module, marker):
  """The flags of the docstring's `python -m` command containing marker."""
  text = module.__doc__.replace("\\\n", " ")
  line = next(
    line for line in text.splitlines() if "python -m" in line and marker in line
  )
  return [a for a in shlex.split(line) if a.startswith("--")]


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def hand_front(rows):
  """Trial numbers no other row beats: click_auc up, dwell_rmse down."""
  front = []
  for r in rows:
    auc, rmse = float(r["metric_click_auc"]), float(r["metric_dwell_rmse"])
    beaten = False
    for o in rows:
      o_auc, o_rmse = (
        float(o["metric_click_auc"]),
        float(o["metric_dwell_rmse"]),
      )
      no_worse = o_auc >= auc and o_rmse <= rmse
      better = o_auc > auc or o_rmse < rmse
      beaten = beaten or (no_worse and better)
    if not beaten:
      front.append(r["number"])
  return front


class SearchSpaceTest(parameterized.TestCase):
  def test_parses_every_kind(self):
    space = sweep.parse_space(
      "learning_rate=loguniform(1e-4, 1e-2); epochs=grid(2,3)\n"
      "weighting=choice(static,dwa(temperature=2.0,x=1));"
      'tower_layers=choice("64","128,64");id_dropout=uniform(0,0.5);'
      "embedding_dim=logint(8,64);batch_size=int(32,128)"
    )
    self.assertEqual(
      [(p.name, p.kind, p.values, p.low, p.high) for p in space],
      [
        ("learning_rate", "loguniform", (), 1e-4, 1e-2),
        ("epochs", "grid", (2, 3), None, None),
        (
          "weighting",
          "choice",
          ("static", "dwa(temperature=2.0,x=1)"),
          None,
          None,
        ),
        ("tower_layers", "choice", ("64", "128,64"), None, None),
        ("id_dropout", "uniform", (), 0.0, 0.5),
        ("embedding_dim", "logint", (), 8, 64),
        ("batch_size", "int", (), 32, 128),
      ],
    )
    # What `describe` writes reads back the same (the study keeps it).
    again = sweep.parse_space(";".join(p.describe() for p in space))
    self.assertEqual(again, space)
    sweep.check_space(space, sweep_script.train_flag_parsers())

  def test_space_file(self):
    path = self.create_tempfile(
      content=json.dumps(
        {
          "learning_rate": "loguniform(1e-4,1e-2)",
          "epochs": [2, 3],
          "weighting": {"choice": ["static", "dwa"]},
        }
      )
    ).full_path
    self.assertEqual(
      [p.describe() for p in sweep.load_space_file(path)],
      [
        "learning_rate=loguniform(0.0001,0.01)",
        "epochs=grid(2,3)",
        "weighting=choice(static,dwa)",
      ],
    )

  @parameterized.named_parameters(
    (
      "unknown_flag",
      "--space=learning_rat=grid(0.1,0.2)",
      r"learning_rat is not a flag of the training script\. Did you mean "
      r"learning_rate\? Its flags: baselines, batch_size, ",
    ),
    (
      "empty_range",
      "--space=learning_rate=uniform(0.01,0.01)",
      r"learning_rate=uniform\(0.01,0.01\): the range is empty",
    ),
    (
      "low_above_high",
      "--space=learning_rate=loguniform(0.1,0.01)",
      r"learning_rate=loguniform\(0.1,0.01\): low is above high",
    ),
    (
      "log_of_zero",
      "--space=learning_rate=loguniform(0,0.01)",
      r"a log range needs low > 0",
    ),
    (
      "empty_choice",
      "--space=weighting=choice()",
      r"the list of values is empty",
    ),
    (
      "unknown_kind",
      "--space=epochs=range(1,3)",
      r"unknown kind; one of: grid",
    ),
    (
      "unreadable",
      "--space=epochs:grid(1,3)",
      r"cannot read 'epochs:grid\(1,3\)'",
    ),
    (
      "bad_value",
      "--space=epochs=grid(1,two)",
      r"'two' is not a valid --epochs \(invalid literal",
    ),
    ("out_of_bounds", "--space=epochs=grid(0,2)", r"0 is not a valid --epochs"),
    (
      "floats_for_an_int_flag",
      "--space=epochs=uniform(1,4)",
      r"It takes integers: use int\(...\) or logint\(...\)",
    ),
    ("model_dir", "--space=model_dir=grid(a,b)", r"sets --model_dir of each"),
    (
      "also_fixed",
      "--space=epochs=grid(1,2) --trial_flags=--epochs=3",
      r"epochs is also in --trial_flags",
    ),
    (
      "unknown_fixed_flag",
      "--space=epochs=grid(1,2) --trial_flags=--synthetic_request=5",
      r"--trial_flags: synthetic_request is not a flag.*Did you mean "
      r"synthetic_requests\?",
    ),
    (
      "grid_with_a_range",
      "--space=learning_rate=uniform(0.1,0.2) --sampler=grid",
      r"--sampler=grid takes lists of values, not ranges",
    ),
    (
      "too_many_grid_trials",
      "--space=epochs=grid(1,2) --sampler=grid --trials=3",
      r"--trials=3 is more than the 2 points of the grid",
    ),
    (
      "no_budget",
      "--space=epochs=grid(1,2) --sampler=tpe",
      r"--trials is required with --sampler=tpe",
    ),
    (
      "directions",
      "--space=epochs=grid(1,2) --directions=auc",
      r"'auc' is not",
    ),
    (
      "prune_several_objectives",
      "--space=epochs=grid(1,2) --trials=2 --prune=val_click_loss:min",
      r"--prune needs a single objective: Optuna prunes single-objective",
    ),
  )
  def test_bad_sweep_fails_before_any_trial(self, args, error):
    output_dir = os.path.join(self.create_tempdir().full_path, "sweep")
    argv = [
      "sweep.py",
      f"--output_dir={output_dir}",
      "--directions=click_auc:max,dwell_rmse:min",
      *shlex.split(args),
    ]
    with (
      flagsaver.flagsaver(),
      self.assertRaisesRegex(flags.IllegalFlagValueError, error),
    ):
      FLAGS(argv)
    self.assertFalse(os.path.exists(output_dir))

  def test_docstring_examples_are_valid_sweeps(self):
    for marker, trials in (("--parallel=2", 12), ("--sampler=grid", 4)):
      with flagsaver.flagsaver():
        FLAGS(["sweep.py", *docstring_example(sweep_script, marker)])
        config = sweep_script.config_from_flags()
      self.assertEqual(config.trials, trials)

  def test_a_training_flag_given_to_the_sweep_is_refused(self):
    output_dir = os.path.join(self.create_tempdir().full_path, "sweep")
    with (
      flagsaver.flagsaver(),
      self.assertRaisesRegex(
        app.UsageError,
        r"--epochs is a flag of the trials: put it in --trial_flags "
        r"\(e\.g\. --trial_flags='--epochs=\.\.\.'\) or in --space\.",
      ),
    ):
      FLAGS(
        [
          "sweep.py",
          f"--output_dir={output_dir}",
          "--directions=click_auc:max",
          "--space=learning_rate=grid(0.1,0.2)",
          "--sampler=grid",
          "--epochs=2",
        ]
      )
      sweep_script.main(["sweep.py"])
    self.assertFalse(os.path.exists(output_dir))

  def test_rejects_stray_arguments(self):
    with self.assertRaisesRegex(Exception, "Unexpected arguments: extra"):
      sweep_script.main(["sweep.py", "extra"])


class ParetoTest(parameterized.TestCase):
  @parameterized.named_parameters(
    # Both maximised: (3, 1) and (1, 3) trade off; (2, 2) too; (1, 1) is
    # beaten by all of them.
    ("max_max", [(3, 1), (1, 3), (2, 2), (1, 1)], [True, True], [1, 1, 1, 0]),
    # x up, y down: (3, 1) beats (2, 2) and (1, 3); (1, 0) has the best y.
    ("max_min", [(3, 1), (1, 3), (2, 2), (1, 0)], [True, False], [1, 0, 0, 1]),
    # Equal points are both optimal; (2, 5) equals them on x and loses on y.
    ("ties", [(2, 4), (2, 4), (2, 5)], [True, False], [1, 1, 0]),
    # Equal on one objective, better on the other: dominated.
    ("tie_on_one", [(1, 2), (1, 3)], [False, False], [1, 0]),
    # Three objectives, min/max/min: (0, 5, 0) beats (1, 5, 1); (2, 9, 3)
    # is the best on y alone.
    (
      "three",
      [(0, 5, 0), (1, 5, 1), (2, 9, 3), (0, 4, 0)],
      [False, True, False],
      [1, 0, 1, 0],
    ),
    ("single", [(0.7,), (0.9,), (0.9,)], [True], [0, 1, 1]),
    ("none", [], [True, True], []),
  )
  def test_front(self, points, maximize, expected):
    self.assertEqual(
      sweep.pareto_mask(points, maximize), [bool(e) for e in expected]
    )


class SweepTest(absltest.TestCase):
  def run_script(self, output_dir, *args):
    with flagsaver.flagsaver():
      FLAGS(["sweep.py", f"--output_dir={output_dir}", *args])
      sweep_script.main(["sweep.py"])
    return read_csv(os.path.join(output_dir, "results.csv"))

  def test_docstring_grid_sweep_with_two_workers(self):
    args = docstring_example(sweep_script, "--sampler=grid")
    output_dir = self.create_tempdir().full_path
    rows = self.run_script(
      output_dir,
      *(a for a in args if not a.startswith("--output_dir")),
      "--parallel=2",
    )
    self.assertLen(rows, 4)
    self.assertEqual({r["state"] for r in rows}, {"COMPLETE"})
    # Every point of the grid once, whichever worker ran it.
    self.assertCountEqual(
      [(r["param_learning_rate"], r["param_embedding_dim"]) for r in rows],
      [("0.001", "8"), ("0.001", "16"), ("0.01", "8"), ("0.01", "16")],
    )
    front = [r["number"] for r in rows if r["pareto"] == "true"]
    self.assertEqual(front, hand_front(rows))
    self.assertEqual({r["pareto"] for r in rows} - {"true", "false"}, set())
    self.assertIn("metric_click_ndcg@10", rows[0])  # Every metric.
    for r in rows:
      self.assertGreater(float(r["duration_s"]), 0)
      self.assertTrue(
        os.path.exists(os.path.join(r["model_dir"], "metrics.json"))
      )
    with open(os.path.join(output_dir, "report.md")) as f:
      report = f.read()
    self.assertIn("python -m experiments.sweep", report)
    self.assertIn(
      f"{len(front)} of 4 complete trials are Pareto-optimal", report
    )
    self.assertRegex(
      report, r"\| click_auc:max \| 0\.\d{4} \| \d \| learning_rate="
    )
    self.assertIn(
      "Not computed: 4 complete trials; it needs 12, so that the best "
      "quarter of them holds at least 3.",
      report,
    )
    with open(os.path.join(output_dir, "pareto.png"), "rb") as f:
      self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

  def test_a_failing_trial_is_recorded_and_the_others_complete(self):
    output_dir = self.create_tempdir().full_path
    rows = self.run_script(
      output_dir,
      "--sampler=grid",
      "--space=weighting=grid(static,no_such_weighting)",
      "--directions=click_auc:max",
      f"--trial_flags={TINY}",
    )
    states = {r["param_weighting"]: (r["state"], r["error"]) for r in rows}
    self.assertEqual(states["static"], ("COMPLETE", ""))
    state, error = states["no_such_weighting"]
    self.assertEqual(state, "FAIL")
    self.assertRegex(error, r"exit code 1: .*no_such_weighting")

  def test_a_killed_sweep_resumes(self):
    output_dir = self.create_tempdir().full_path
    args = [
      f"--output_dir={output_dir}",
      *(
        a
        for a in docstring_example(sweep_script, "--sampler=grid")
        if "output" not in a
      ),
    ]
    process = subprocess.Popen(
      [sys.executable, "-m", "experiments.sweep", *args],
      cwd=ROOT,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
    )
    # Kill it once two trials are complete and the third is training (or
    # once it exits by itself, which the assertions below then report). (The
    # storage is read once results.csv exists: opening an SQLite storage
    # while the sweep creates its tables could race with it.)
    config = sweep.SweepConfig.from_json(_config_json(output_dir))
    results = os.path.join(output_dir, "results.csv")

    def third_trial_training():
      if process.poll() is not None:
        return True
      if not os.path.exists(results):
        return False
      trials = sweep.open_study(config).trials
      states = [t.state.name for t in trials]
      training = [t for t in trials if "train_pid" in t.user_attrs]
      return states.count("COMPLETE") == 2 and len(training) == 3

    try:
      _wait_until(third_trial_training, "the sweep's third trial training")
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()
    study = sweep.open_study(config)
    before = {
      t.number: t.datetime_complete
      for t in study.trials
      if t.state.name == "COMPLETE"
    }
    self.assertLen(before, 2)
    [running] = [t for t in study.trials if t.state.name == "RUNNING"]
    # The killed sweep's training died with it.
    pid = running.user_attrs["train_pid"]
    _wait_until(lambda: _gone(pid), f"the training (pid {pid}) to die")

    rows = self.run_script(output_dir, *args[1:])
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    self.assertLen(complete, 4)
    self.assertCountEqual(
      [(r["param_learning_rate"], r["param_embedding_dim"]) for r in complete],
      [("0.001", "8"), ("0.001", "16"), ("0.01", "8"), ("0.01", "16")],
    )
    study = sweep.open_study(config)
    after = {t.number: t.datetime_complete for t in study.trials}
    for number, finished in before.items():
      self.assertEqual(after[number], finished)  # Not run again.
    [interrupted] = [r for r in rows if r["state"] == "FAIL"]
    self.assertEqual(interrupted["number"], str(running.number))
    self.assertRegex(
      interrupted["error"], r"^interrupted: its worker .* stopped"
    )
    [retry] = [r for r in rows if r["retry_of"] == interrupted["number"]]
    self.assertEqual(retry["state"], "COMPLETE")
    self.assertEqual(
      (retry["param_learning_rate"], retry["param_embedding_dim"]),
      tuple(str(running.params[k]) for k in ("learning_rate", "embedding_dim")),
    )


def _config_json(output_dir):
  """The docstring grid sweep's config, as its helpers get it."""
  args = docstring_example(sweep_script, "--sampler=grid")
  values = dict(a[2:].split("=", 1) for a in args)
  return sweep.SweepConfig(
    output_dir=output_dir,
    space=sweep.parse_space(values["space"]),
    objectives=sweep.parse_objectives(values["directions"]),
    train_module=sweep_script.TRAIN_MODULE,
    trial_flags=tuple(shlex.split(values["trial_flags"])),
    sampler="grid",
  ).to_json()


def _gone(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return True
  return False


def _wait_until(condition, what):
  """Polls `condition` until it holds. Only a hang (HANG_SECONDS) fails."""
  give_up = time.monotonic() + HANG_SECONDS
  while not condition():
    if time.monotonic() > give_up:
      raise AssertionError(f"Still waiting for {what} after {HANG_SECONDS} s.")
    time.sleep(0.2)


class FakeTrainingTest(absltest.TestCase):
  """The worker's handling of trials, on a training stand-in that takes a
  fraction of a second."""

  def config(self, space, directions="click_auc:max", **kwargs):
    workdir = self.create_tempdir().full_path
    with open(os.path.join(workdir, "fake_train.py"), "w") as f:
      f.write(textwrap.dedent(FAKE_TRAIN))
    return sweep.SweepConfig(
      output_dir=os.path.join(workdir, "sweep"),
      space=sweep.parse_space(space),
      objectives=sweep.parse_objectives(directions),
      workdir=workdir,
      train_module="fake_train",
      poll_seconds=0.05,
      **kwargs,
    )

  def test_crash_kill_and_nan_fail_their_trial_only(self):
    config = self.config(
      "learning_rate=grid(0.1,0.6,0.7,0.8)", sampler="grid", sampler_seed=3
    )
    rows = sweep.run(config)
    why = {r["param_learning_rate"]: (r["state"], r["error"]) for r in rows}
    self.assertEqual(why[0.1], ("COMPLETE", ""))
    self.assertEqual(
      why[0.6], ("FAIL", "exit code 1: ValueError: learning rate 0.6 is cursed")
    )
    self.assertEqual(why[0.7][0], "FAIL")
    self.assertRegex(
      why[0.7][1],
      r"^killed by SIGKILL \(by the kernel's out-of-memory killer or by kill -9; "
      r"dmesg says which\)",
    )
    self.assertEqual(why[0.8], ("FAIL", "metric click_auc is NaN"))
    self.assertEqual(
      [r["pareto"] for r in rows if r["state"] == "COMPLETE"], [True]
    )

  @absltest.skipUnless(sys.platform.startswith("linux"), "forks on Linux")
  def test_trials_fork_from_their_worker_with_tensorflow_imported(self):
    config = self.config("learning_rate=grid(0.1,0.2)", sampler="grid")
    # The worker in a process of its own: this one has run TensorFlow
    # (other tests), and a worker that has forks no trial.
    with open(os.path.join(config.workdir, "worker.py"), "w") as f:
      f.write(WORKER)
    worker = subprocess.run(
      [sys.executable, "worker.py", "--worker_only=x", config.to_json()],
      cwd=config.workdir,
      env={**os.environ, "PYTHONPATH": str(ROOT)},
      capture_output=True,
      text=True,
      check=True,
    )
    pid = int(worker.stdout.split()[0])
    rows = read_csv(os.path.join(config.output_dir, "results.csv"))
    self.assertEqual([r["state"] for r in rows], ["COMPLETE"] * 2)
    for row in rows:
      with open(os.path.join(row["model_dir"], "process.json")) as f:
        process = json.load(f)
      # A child of the worker (a new process's parent would be the same,
      # but it would import TensorFlow itself), run as `python -m` in the
      # trial's folder with the trial's flags alone.
      self.assertEqual(process["parent"], pid)
      self.assertTrue(process["tensorflow"])
      self.assertFalse(process["worker_flag"])
      self.assertEqual(process["cwd"], config.workdir)
      self.assertEqual(process["argv"][0].rsplit("/", 1)[-1], "fake_train.py")
      self.assertEqual(
        process["argv"][1:],
        [
          f"--model_dir={row['model_dir']}",
          f"--learning_rate={row['param_learning_rate']}",
        ],
      )

  def test_a_worker_that_ran_tensorflow_starts_new_processes(self):
    # Its runtime's threads would be missing in a forked child.
    import tensorflow as tf  # noqa: PLC0415

    from multiobj.studies.sweep import fork  # noqa: PLC0415

    tf.constant(1.0).numpy()
    self.assertFalse(fork.available())

  def test_two_workers_share_a_journal_storage(self):
    journal = os.path.join(self.create_tempdir().full_path, "journal.log")
    config = self.config(
      "learning_rate=grid(0.1,0.2,0.3,0.4,0.5)",
      sampler="grid",
      parallel=2,
      storage=f"journal:{journal}",
      trial_flags=("--epochs=3",),
    )
    rows = sweep.run(config)
    self.assertEqual([r["state"] for r in rows], ["COMPLETE"] * 5)
    self.assertCountEqual(
      [r["param_learning_rate"] for r in rows], [0.1, 0.2, 0.3, 0.4, 0.5]
    )
    self.assertLen({r["host"] for r in rows}, 1)
    # Two worker processes took part (the helper's pid differs).
    study = sweep.open_study(config)
    self.assertLen({t.user_attrs["pid"] for t in study.trials}, 2)
    # Each metric is an attribute of its own (sortable in Optuna's tools).
    for t in study.trials:
      self.assertEqual(t.user_attrs["click_auc"], t.values[0])
    self.assertTrue(os.path.getsize(journal))

  def test_optuna_dashboard_shows_the_metrics_as_sortable_columns(self):
    config = self.config(
      "learning_rate=grid(0.1,0.2)",
      "click_auc:max,click_logloss:min",
      sampler="grid",
    )
    sweep.run(config)
    # The dashboard's own app (what `optuna-dashboard sqlite:///...` serves),
    # asked as its page asks.
    app = optuna_dashboard.wsgi(config.storage_url)
    [study] = _get(app, "/api/studies")["study_summaries"]
    self.assertEqual(study["study_name"], config.study_name)
    detail = _get(app, f"/api/studies/{study['study_id']}")
    self.assertEqual(detail["objective_names"], ["click_auc", "click_logloss"])
    self.assertLen(detail["trials"], 2)
    columns = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
    self.assertTrue(columns["click_auc"])
    self.assertTrue(columns["click_logloss"])
    for trial in detail["trials"]:
      shown = {a["key"]: a["value"] for a in trial["user_attrs"]}
      self.assertEqual(float(shown["click_logloss"]), trial["values"][1])

  def test_missing_metric_fails_with_the_known_ones(self):
    config = self.config("learning_rate=grid(0.1)", "auc:max", sampler="grid")
    [row] = sweep.run(config)
    self.assertEqual(
      row["error"],
      "metric auc is not in metrics.json (it has: click_auc, click_logloss)",
    )

  def test_prunes_a_hopeless_trial_and_rejects_an_unknown_metric(self):
    config = self.config(
      "learning_rate=choice(0.1,0.2,0.9)",
      sampler="random",
      trials=3,
      trial_flags=("--epochs=6",),
      prune=sweep.Objective("val_click_loss", False),
      prune_startup_trials=2,
    )
    study = sweep.open_study(config, create=True)
    for lr in (0.1, 0.2, 0.9):  # In this order: the worst comes last.
      study.enqueue_trial({"learning_rate": lr})
    rows = sweep.run(config)
    self.assertEqual(
      [r["state"] for r in rows], ["COMPLETE", "COMPLETE", "PRUNED"]
    )
    # 0.9 > the median of 0.1 and 0.2 at the first epoch: stopped there.
    self.assertRegex(
      rows[2]["error"], r"^pruned after epoch 1: val_click_loss=0.9"
    )
    with open(os.path.join(rows[2]["model_dir"], "history.jsonl")) as f:
      self.assertLess(len(f.readlines()), 6)

    config = self.config(
      "learning_rate=grid(0.1)",
      sampler="grid",
      trial_flags=("--epochs=2",),
      prune=sweep.Objective("val_clik_loss", False),
    )
    [row] = sweep.run(config)
    self.assertEqual(row["state"], "FAIL")
    self.assertEqual(
      row["error"],
      "--prune metric val_clik_loss is not in history.jsonl (it has: "
      "val_click_loss)",
    )


if __name__ == "__main__":
  absltest.main()
