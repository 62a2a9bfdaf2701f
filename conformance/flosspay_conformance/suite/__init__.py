"""The conformance suite: a rail's test module imports it whole (``from flosspay_conformance.suite import *``).

Each module checks one part of the Rail contract (``flosspay.railapi.Rail``); the fixtures they use
come from ``flosspay_conformance.plugin``; tests of optional capabilities are marked with
``flosspay_conformance.marks.requires``.
"""

from .test_accounts import *  # noqa: F403
from .test_flows import *  # noqa: F403
from .test_loading import *  # noqa: F403
from .test_payments import *  # noqa: F403
from .test_recording import *  # noqa: F403
from .test_refunds import *  # noqa: F403
from .test_secrets import *  # noqa: F403
from .test_status import *  # noqa: F403
from .test_timeouts import *  # noqa: F403
from .test_validation import *  # noqa: F403
