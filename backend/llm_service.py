"""The spec's `llm_service` module is the package's own module of the active LLM service, not a
copy of its names: `patch('llm_service.get_active_llm_service')` and
`patch('llm_service.LMStudioService.test_connection')` reach the code that runs, because the
proxy and the settings API look the service up through this very module at call time."""
import sys

from taleweaver.settings import llm_service as _module

sys.modules[__name__] = _module
