"""The suite's own test modules only run when a rail imports them, never collected from here."""

collect_ignore = ["flosspay_conformance"]
