"""FlossPay's rail conformance suite: a pytest plugin plus the tests every rail must pass.

A rail declares what it supports (``RailRequirements``) and the test data of its sandbox
(``RailScenarios``); see docs/writing-a-rail.md.
"""

from flosspay_conformance.marks import requires
from flosspay_conformance.requirements import RailRequirements
from flosspay_conformance.scenarios import InvalidInput, RailScenarios

__all__ = ["InvalidInput", "RailRequirements", "RailScenarios", "requires"]
