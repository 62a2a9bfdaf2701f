"""``ChainVerifier``: the fast path, the framing checks and the rules over one state."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable

from flosspay.domain.chain import (
    GENESIS,
)
from flosspay.ledger_verify.fast import FastPath
from flosspay.ledger_verify.format import Framing
from flosspay.ledger_verify.report import AT_END as _AT_END
from flosspay.ledger_verify.report import AT_START as _AT_START
from flosspay.ledger_verify.report import Report
from flosspay.ledger_verify.rules import Rules
from flosspay.ledger_verify.values import (
    _COMPLETED,
    _SUCCEEDED,
    SignatureCheck,
    _s,
)


class ChainVerifier(FastPath, Framing, Rules):
    """Feed it the export's lines (bytes, with their newline) in order; read the ``Report``.

    ``trusted_keys``: Ed25519 public keys the operator published; when given, every checkpoint must
    be signed by one of them. ``expected_heads``: ``{seq: hash}`` an auditor holds the operator to.
    """

    # --- the loop ---------------------------------------------------------------------------------

    def verify(
        self, lines: Iterable[bytes], progress: Callable[[int], None] | None = None, progress_every: int = 50_000
    ) -> Report:
        """Check every line, then the end of the chain; returns the report (also in ``self.report``)."""
        collecting = gc.isenabled()
        gc.disable()  # nothing here makes reference cycles; a collection per 700 records would cost a lot
        try:
            self._verify(lines, progress, max(1, progress_every))
        finally:
            if collecting:
                gc.enable()
        return self.finish()

    def finish(self) -> Report:
        report = self.report
        report.records = self._next_seq - 1
        report.head_seq = self._next_seq - 1
        report.head_hash = self._prev
        if self.links:
            if not self._seen_header:
                self._problem(0, "the export has no header line", _AT_END)
            if not self._ended and self._seen_header:
                self._problem(0, "the export has no end line: it is truncated", _AT_END)
            genesis = self.expected_heads.get(0)
            if genesis is not None and genesis != GENESIS:
                self._problem(0, f"the chain hash at seq 0 differs from the expected head {genesis.hex()}", _AT_START)
            for seq in sorted(s for s in self.expected_heads if s > report.head_seq):
                message = f"the chain ends at seq {report.head_seq}, before the expected head at seq {seq}"
                self._problem(0, message, _AT_END)
        if self.rules and report.head_seq in self.expected_states:
            from flosspay.ledger_verify.snapshot import state_digest, state_lines

            if state_digest(state_lines(self)) != self.expected_states[report.head_seq]:
                message = f"the chain's state at seq {report.head_seq} differs from the one its signed head names"
                self._problem(0, message, _AT_END)
        if self.rules and not self.open_end:
            for pid, state in self._payments.items():
                if state[0] == _COMPLETED:
                    message = (
                        f"payment {_s(pid)} COMPLETED at seq {state[4]}, but its payment entry is not in the chain"
                    )
                    self._problem(0, message, _AT_END)
            for rid, refund in self._refunds.items():
                if refund[0] == _SUCCEEDED:
                    message = f"refund {_s(rid)} SUCCEEDED at seq {refund[7]}, but its refund entry is not in the chain"
                    self._problem(0, message, _AT_END)
        report.problems.sort(key=lambda p: p.rank)  # file order, whichever check found them
        return report


def verify_lines(
    lines: Iterable[bytes],
    *,
    check_signature: SignatureCheck | None = None,
    trusted_keys: Iterable[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    max_problems: int = 100,
) -> Report:
    """Verify an export given as lines of bytes (each ending in a newline)."""
    verifier = ChainVerifier(
        check_signature=check_signature,
        trusted_keys=trusted_keys,
        expected_heads=expected_heads,
        max_problems=max_problems,
    )
    return verifier.verify(lines, progress)
