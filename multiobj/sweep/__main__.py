"""A helper worker of `run`: python -m multiobj.sweep CONFIG_JSON WORKER."""

import sys

from multiobj.sweep.config import SweepConfig
from multiobj.sweep.runner import work

work(SweepConfig.from_json(sys.argv[1]), worker=int(sys.argv[2]))
