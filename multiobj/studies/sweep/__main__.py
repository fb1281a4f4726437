"""A helper worker of `run`: python -m multiobj.studies.sweep CONFIG_JSON WORKER."""

import sys

from multiobj.studies.sweep.config import SweepConfig
from multiobj.studies.sweep.runner import work

work(SweepConfig.from_json(sys.argv[1]), worker=int(sys.argv[2]))
