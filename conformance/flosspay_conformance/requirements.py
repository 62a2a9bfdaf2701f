"""What optional capabilities a rail declares, modelled on SQLAlchemy's dialect ``Requirements``.

A rail subclasses ``RailRequirements`` and overrides the properties of what it supports; the suite
skips the tests of every capability left off, naming the property and what it means. Defaults are
conservative (off), except ``status_query``, without which FlossPay cannot settle an uncertain
payment at all.
"""

from __future__ import annotations


class RailRequirements:
    """One property per optional capability; each returns True when the rail supports it."""

    @property
    def refunds(self) -> bool:
        """``refund()`` returns the full amount of a completed payment (the PSP caps refunds at the amount)."""
        return False

    @property
    def partial_refunds(self) -> bool:
        """Several refunds of part of a payment, adding up to at most its amount (needs ``refunds``)."""
        return False

    @property
    def collect(self) -> bool:
        """The COLLECT flow: ``execute`` asks the payer, who approves later (answered PENDING meanwhile)."""
        return False

    @property
    def status_query(self) -> bool:
        """``status()`` asks the PSP about a reference: FlossPay's only way to settle an uncertain payment."""
        return True

    @property
    def three_d_secure(self) -> bool:
        """``execute`` may answer ACTION_REQUIRED (the customer must act) and ``status`` later resolves it."""
        return False

    @property
    def next_action(self) -> bool:
        """ACTION_REQUIRED answers say where to send the customer (a redirect ``NextAction``)."""
        return False

    @classmethod
    def capabilities(cls) -> list[str]:
        """The names of every capability property, in declaration order (for reports and checks)."""
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, property) and name not in names:
                    names.append(name)
        return names

    @classmethod
    def describe(cls, name: str) -> str:
        """The first line of a capability's docstring: the skip reason when it is not declared."""
        prop = getattr(cls, name, None)
        if not isinstance(prop, property):
            raise AttributeError(f"{cls.__name__} has no capability {name!r}; known: {', '.join(cls.capabilities())}")
        doc = (prop.__doc__ or name).strip().splitlines()[0]
        return doc.replace("``", "")
