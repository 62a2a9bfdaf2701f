"""``GET /api/v1/ledger/head``: the hash chain's newest link and checkpoint, for auditors.

Authenticated like every ``/api/v1`` route; any client may read the head (it reveals a count and a
hash, nothing about anyone's payments).
"""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from flosspay.adapters.http.services import ApiServices
from flosspay.application.ledger_head import ledger_head_body

LEDGER_TAG = "ledger"


@get(
    "/ledger/head",
    operation_id="getLedgerHead",
    summary="Get the ledger's hash-chain head",
    sync_to_thread=True,
    tags=[LEDGER_TAG],
)
def ledger_head_handler(client_id: NamedDependency[str], services: NamedDependency[ApiServices]) -> Response[bytes]:
    """The head sequence number and hash (write them down; `flosspay ledger verify --expect` checks them
    later) and the newest checkpoint with its Ed25519 signature, if the operator signs them."""
    body = ledger_head_body(uow_factory=services.uow_factory)
    return Response(content=body, status_code=200, media_type="application/json")


LEDGER_HANDLERS = [ledger_head_handler]
