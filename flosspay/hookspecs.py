"""The rail plugin hooks (pluggy, project name ``flosspay``).

A rail distribution registers a module under the entry-point group ``flosspay.rails``; that module
implements some of these hooks with ``@flosspay.railapi.hookimpl``. Unknown ``flosspay_*`` hooks are
rejected when plugins load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from flosspay.railapi import Rail, RailSettings, Sandbox

hookspec = pluggy.HookspecMarker("flosspay")
hookimpl = pluggy.HookimplMarker("flosspay")


@hookspec
def flosspay_rail(settings: RailSettings) -> Rail | None:
    """Create this plugin's rail.

    :param settings: the rail's own configuration: every ``FLOSSPAY_<NAME>_<KEY>`` environment
        variable as ``{"<key>": value}`` with a lower-case key (``FLOSSPAY_UPI_PSP_URL`` → ``psp_url``).
    :return: a ``Rail`` instance, or None when the plugin does not provide one.

    Rules: called once per process at start-up; must not do network I/O (connect lazily); raise an
    exception with a clear one-line message when the settings are unusable (the rail is then
    reported as failed to load and FlossPay starts with the others).

    The rail's contract (``flosspay.railapi.Rail``, checked by the conformance suite) includes:
    ``prepare`` names the ledger accounts of the payment (``PreparedPayment.payer_account`` and
    ``payee_account``: segments after the rail's name, the same for the same payer, never a card
    number or a secret; no payee means the merchant is paid), and an ACTION_REQUIRED result may
    carry ``next_action`` (``NextAction("redirect", url)``: where the customer must go; FlossPay
    stores it with the payment and shows it as ``nextAction`` in the status until it is final).

    Refunds: a rail class declares ``refunds: ClassVar[bool] = True`` when ``refund()`` gives back a
    completed payment in full, and ``partial_refunds: ClassVar[bool] = True`` when it also takes several
    parts adding up to at most the amount (matching its conformance ``RailRequirements``). A rail that
    declares neither takes no refunds: ``POST /transaction/{id}/refunds`` answers 409 for its payments.
    ``refund()`` is idempotent by ``refund_reference`` (FlossPay's refund id): asked again after a crash
    or an unclear answer, it must answer what the first call did, never refund twice.
    """


@hookspec
def flosspay_sandbox(settings: RailSettings) -> Sandbox | None:
    """Offer a sandbox PSP that ``flosspay serve`` runs on loopback for the embedded default.

    :param settings: as for ``flosspay_rail``.
    :return: an object with ``start(host, port) -> base_url`` and ``stop()``, or None.

    Rules: the sandbox must never move real money; ``start`` returns once it accepts connections.
    The base URL is then passed to ``flosspay_rail`` as the ``psp_url`` setting unless the
    operator set one.
    """
