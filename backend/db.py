"""The spec's `db` module is the package's database module itself (`from db import init_db`)."""
import sys

from taleweaver.storage import db as _module

sys.modules[__name__] = _module
