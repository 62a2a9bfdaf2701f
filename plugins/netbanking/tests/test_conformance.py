from flosspay_conformance.suite import *  # noqa: F403
