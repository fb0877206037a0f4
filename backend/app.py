"""The spec's `app` module is the package's application factory module itself, so that
`from app import create_app`, `flask --app app ...` and `gunicorn "app:create_app()"` keep working
(and anything patched here is patched where the code runs)."""
import sys

from taleweaver.web import app as _module

sys.modules[__name__] = _module
