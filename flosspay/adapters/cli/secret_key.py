"""``flosspay secret-key rotate``: a new server key, and every client and webhook secret sealed under it.

With the generated key file the steps are ordered so that a crash at any point leaves every row
openable: the old key is kept in ``secret.key.previous`` first, then ``secret.key`` is replaced
(atomically, 0600), then the rows are resealed in one transaction. Running API processes find the
new key by re-reading the files the first time they meet a row sealed under it.
"""

from __future__ import annotations

import secrets

from flosspay.adapters.config import PREVIOUS_SECRET_KEYS_FILE, SECRET_KEY_FILE, Settings
from flosspay.adapters.container import secret_box_for
from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.adapters.private_files import replace_private_file
from flosspay.adapters.secret_box import SecretBox


def _reseal(settings: Settings, box: SecretBox) -> str:
    """Reseal client and webhook endpoint secrets in one transaction; says how many of each."""
    engine = create_engine(settings.database.url, pool_size=1)
    try:
        with SqlUnitOfWorkFactory(engine, box)() as uow:
            clients = uow.clients.reseal_all()
            endpoints = uow.webhooks.reseal_all()
            uow.commit()
        return f"{clients} client(s) and {endpoints} webhook endpoint(s)"
    finally:
        engine.dispose()


def rotate_secret_key(settings: Settings) -> str:
    """Rotate (or, with ``FLOSSPAY_SECRET_KEY``, finish rotating) the key; returns a one-line report."""
    if settings.secret_key_from_env:
        box = secret_box_for(settings)
        count = _reseal(settings, box)
        return (
            f"resealed {count} under key {box.key_id} (FLOSSPAY_SECRET_KEY); "
            "FLOSSPAY_SECRET_KEY_PREVIOUS is no longer needed"
        )
    old = settings.secret_key
    new = secrets.token_hex(32).encode()
    data_dir = settings.data_dir
    replace_private_file(data_dir / PREVIOUS_SECRET_KEYS_FILE, old + b"\n")
    replace_private_file(data_dir / SECRET_KEY_FILE, new)
    box = SecretBox(new, [old, *settings.previous_secret_keys])
    count = _reseal(settings, box)
    return (
        f"new secret key {box.key_id} in {data_dir / SECRET_KEY_FILE}; resealed {count}. "
        "A retry of a request sent before now under the same Idempotency-Key gets 409 (fingerprints use the key)."
    )
