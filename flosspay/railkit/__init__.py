"""FlossPay's rail toolkit: the parts most rails share, so a rail holds only its own PSP's protocol.

Public, like ``flosspay.railapi`` (which re-exports these names), and versioned with it:

- ``transport``: ``PspTransport`` sends JSON to the PSP and answers ``PspAnswer`` or ``NoAnswer``
  (TRANSIENT if nothing was sent, UNCERTAIN if it may have been); it never raises.
- ``answers``: ``PspAnswers``, what a JSON PSP's ``{status, code, message, <id>}`` answers mean.
- ``failures``: ``http_failure`` turns an HTTP error status into DECLINED, TRANSIENT or UNCERTAIN.
- ``refusals``: ``reference_refusal`` and ``refund_refusal``, what a rail refuses without asking.
- ``guard``: ``never_raises``, so a rail's slip is an UNCERTAIN outcome, not an exception.
- ``settings``: ``SettingsReader`` parses ``FLOSSPAY_<RAIL>_<KEY>`` values with one-line errors.
- ``sandbox_server`` and ``sandbox_cli``: ``SandboxServer``, a base for sandbox PSPs (write
  ``route``, get the HTTP server), and ``run_cli`` for ``python -m <rail>.sandbox``.
"""

from __future__ import annotations

from flosspay.railkit.answers import PspAnswers, next_action
from flosspay.railkit.failures import http_failure
from flosspay.railkit.guard import never_raises
from flosspay.railkit.refusals import MAX_REFERENCE_LENGTH, as_refund, reference_refusal, refund_refusal
from flosspay.railkit.sandbox_cli import CliOption, run_cli
from flosspay.railkit.sandbox_server import Reply, SandboxRequest, SandboxServer
from flosspay.railkit.settings import RailSettingsError, SettingsReader
from flosspay.railkit.transport import NoAnswer, PspAnswer, PspTransport

__all__ = [
    "MAX_REFERENCE_LENGTH",
    "CliOption",
    "NoAnswer",
    "PspAnswer",
    "PspAnswers",
    "PspTransport",
    "RailSettingsError",
    "Reply",
    "SandboxRequest",
    "SandboxServer",
    "SettingsReader",
    "as_refund",
    "http_failure",
    "never_raises",
    "next_action",
    "reference_refusal",
    "refund_refusal",
    "run_cli",
]
