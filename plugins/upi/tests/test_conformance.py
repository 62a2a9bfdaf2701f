from flosspay_conformance.suite import *  # noqa: F403
from upi_conformance_config import conformance_rail_name, conformance_requirements, conformance_scenarios  # noqa: F401
