"""A helper worker of `run`: python -m multiobj.studies.sweep CONFIG_JSON WORKER."""

import sys

from multiobj import quiet

quiet.install()  # Before the worker imports TensorFlow.

from multiobj.studies.sweep.config import SweepConfig  # noqa: E402
from multiobj.studies.sweep.runner import work  # noqa: E402

work(SweepConfig.from_json(sys.argv[1]), worker=int(sys.argv[2]))
