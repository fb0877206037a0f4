"""The certificates an https backend (or a TLS-inspecting proxy in front of it) is checked
against: the machine's trusted authorities, extended as OpenSSL and requests let a user extend
them — SSL_CERT_FILE / SSL_CERT_DIR (read by OpenSSL when the defaults load) and
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (requests' variables; here they add to the machine's
authorities instead of replacing them, so a company's inspecting proxy and public servers both
verify)."""
from __future__ import annotations

import logging
import os
import ssl

log = logging.getLogger("taleweaver.llm")

BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def trusted_context() -> ssl.SSLContext:
    """A client TLS context with hostname checks and the trusted authorities above. Make it at
    first use, after gunicorn's gevent worker has patched ssl."""
    context = ssl.create_default_context()
    for variable in BUNDLE_VARIABLES:
        bundle = os.environ.get(variable)
        if not bundle:
            continue
        try:
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
        except (OSError, ssl.SSLError) as exc:
            log.warning("the certificates in %s (%s) could not be read, so they are not trusted: %s",
                        variable, bundle, exc)
    return context
