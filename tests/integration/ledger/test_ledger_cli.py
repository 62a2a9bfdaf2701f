"""``flosspay ledger …`` on a real database: verify, export and offline verify, checkpoints, keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from flosspay.adapters.cli.main import main
from flosspay.adapters.persistence.tables import payment_history
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.ledger import payment_entry_id
from tests.integration.ledger.support import LedgerWorld, as_superuser, seq_of_history

pytestmark = pytest.mark.integration


@pytest.fixture
def configured(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in [n for n in os.environ if n.startswith("FLOSSPAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLOSSPAY_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOSSPAY_DATA_DIR", str(tmp_path / "data"))
    # The fixtures leave payments unfinished, dated 2026-01-01: not what `verify` should call stuck here.
    monkeypatch.setenv("FLOSSPAY_STALL_AFTER_SECONDS", "1e9")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_export_and_verify_the_export_with_nothing_configured(
    configured: str,
    engine: Engine,
    uow_factory: SqlUnitOfWorkFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = LedgerWorld(uow_factory)
    ids = world.populate()
    world.pay(3)  # committed, not chained yet: `verify` chains it first

    code, out, _ = run(capsys, "ledger", "verify")
    assert code == 0 and out.startswith("ledger OK: 20 records, head seq 20"), out
    code, out, _ = run(capsys, "ledger", "head")
    assert code == 0 and out.startswith("20:")
    head_hash = out.strip().split(":")[1]

    export = tmp_path / "ledger.jsonl"
    code, _, err = run(capsys, "ledger", "export", str(export))
    assert code == 0 and f"exported the chain to {export}" in err
    assert export.read_bytes().count(b"\n") == 22  # header, 20 records, end

    # An auditor's machine: no FLOSSPAY_* settings, no database, only the package.
    clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "flosspay.adapters.cli.main",
            "ledger",
            "verify",
            "--file",
            str(export),
            "--expect",
            f"20:{head_hash}",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stderr
    assert "ledger OK: 20 records" in audit.stdout
    assert not (tmp_path / ".flosspay").exists()  # it wrote no settings or secrets

    expected = seq_of_history(engine, ids["paid"], 1)
    with as_superuser(configured) as connection:
        connection.execute(
            update(payment_history)
            .where(payment_history.c.payment_id == ids["paid"], payment_history.c.seq == 1)
            .values(reason="nothing to see here")
        )
    code, out, _ = run(capsys, "ledger", "verify", "--quiet")
    assert code == 1
    assert out.startswith(f"ledger verification FAILED at seq {expected}: hash mismatch"), out
    code, out, _ = run(capsys, "ledger", "verify", "--file", str(export), "--quiet")
    assert code == 0  # the export was taken before the change, and still verifies on its own


def test_checkpoints_signed_with_the_configured_key(
    configured: str,
    uow_factory: SqlUnitOfWorkFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    LedgerWorld(uow_factory).populate()
    key = tmp_path / "ledger-key.pem"
    code, out, _ = run(capsys, "ledger", "keygen", str(key))
    assert code == 0 and oct(key.stat().st_mode & 0o777) == "0o600"
    public = out.strip().rsplit(" ", 1)[1]
    assert len(bytes.fromhex(public)) == 32
    code, _, err = run(capsys, "ledger", "keygen", str(key))
    assert code == 1 and "refusing to overwrite" in err

    monkeypatch.setenv("FLOSSPAY_LEDGER_SIGNING_KEY", str(key))
    code, out, _ = run(capsys, "ledger", "checkpoint", "--json")
    checkpoint = json.loads(out)
    assert code == 0 and checkpoint["seq"] == 16 and checkpoint["publicKey"] == public
    assert len(checkpoint["signature"]) == 128
    code, out, _ = run(capsys, "ledger", "verify", "--quiet")
    assert code == 0 and "1 with a verified signature" in out
    code, out, _ = run(capsys, "ledger", "verify", "--quiet", "--public-key", "00" * 32)
    assert code == 1 and "not trusted" in out

    code, out, _ = run(capsys, "ledger", "balance", "upi:vpa:alice@upi")
    assert code == 0 and out.strip() == "upi:vpa:alice@upi: -1003790.00 INR"
    code, out, _ = run(capsys, "ledger", "balance", "upi:clearing", "--json")
    assert json.loads(out) == {"account": "upi:clearing", "balances": {"INR": 0}}


def test_an_operator_reverses_and_corrects_entries_and_the_ledger_still_verifies(
    configured: str,
    uow_factory: SqlUnitOfWorkFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = LedgerWorld(uow_factory)
    entry = str(payment_entry_id(world.pay(28)))

    code, out, _ = run(capsys, "ledger", "entry", entry)
    assert code == 0 and out.splitlines()[0].startswith(f"entry {entry} (payment, posted ")
    assert "upi:vpa:alice@upi" in out and "-28.00 INR" in out

    code, out, _ = run(capsys, "ledger", "reverse", entry, "--reason", "refund: goods returned", "--json")
    reversal = json.loads(out)
    assert code == 0 and reversal["kind"] == "reversal" and reversal["refEntryId"] == entry
    assert [p["minor"] for p in reversal["postings"]] == [2800, -2800, 2800, -2800]
    assert reversal["description"] == "refund: goods returned"

    code, out, _ = run(
        capsys,
        "ledger",
        "correct",
        entry,
        "--posting",
        "upi:vpa:bob@upi",
        "-1.50",
        "INR",
        "--posting",
        "merchant:fees",
        "1.50",
        "INR",
        "--reason",
        "fee taken afterwards",
    )
    assert code == 0 and out.startswith(f"posted a correction of entry {entry}:")
    code, out, _ = run(capsys, "ledger", "entry", entry, "--json")
    shown = json.loads(out)
    assert [r["kind"] for r in shown["referencedBy"]] == ["reversal", "correction"]
    assert shown["referencedBy"][0]["id"] == reversal["id"]

    code, out, _ = run(capsys, "ledger", "balance", "upi:vpa:alice@upi", "--json")
    assert json.loads(out)["balances"] == {"INR": 0}
    code, out, _ = run(capsys, "ledger", "balance", "merchant:fees", "--json")
    assert json.loads(out)["balances"] == {"INR": 150}

    for argv, complaint in [
        (["reverse", entry, "--reason", "again"], f"journal entry {entry} is already reversed"),
        (["reverse", reversal["id"], "--reason", "undo"], "a reversal is not reversed; post a correction instead"),
        (["reverse", "nope", "--reason", "x"], "ENTRY_ID must be a journal entry id (a UUID), got 'nope'"),
        (["entry", str(uuid.UUID(int=5))], f"no journal entry {uuid.UUID(int=5)}"),
        (
            ["correct", entry, "--posting", "a:b", "1", "INR", "--posting", "a:c", "-2", "INR", "--reason", "x"],
            "balance",
        ),
        (["correct", entry, "--posting", "a:b", "1.001", "INR", "--reason", "x"], "at most 2 decimal places"),
        (["correct", entry, "--posting", "a:b", "-0.00", "INR", "--reason", "x"], "a posting moves a non-zero amount"),
        (["correct", entry, "--posting", "a:b", "1", "XYZ", "--reason", "x"], "--posting a:b: unsupported currency"),
        (
            ["correct", entry, "--posting", "no name", "1", "INR", "--posting", "a:c", "-1", "INR", "--reason", "x"],
            "account",
        ),
    ]:
        code, _, err = run(capsys, "ledger", *argv)
        assert code == 1 and complaint in err and len(err.strip().splitlines()) == 1, (argv, err)

    code, out, _ = run(capsys, "ledger", "verify", "--quiet")
    # Three history rows, the payment entry, its reversal and its correction: all chained first.
    assert code == 0 and out.startswith("ledger OK: 6 records"), out
    export = tmp_path / "ledger.jsonl"
    assert run(capsys, "ledger", "export", str(export))[0] == 0
    code, out, _ = run(capsys, "ledger", "verify", "--file", str(export))
    assert code == 0 and "ledger OK" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["ledger", "verify", "--file", "/no/such/export.jsonl"], "cannot read /no/such/export.jsonl"),
        (["ledger", "verify", "--expect", "twelve"], "--expect wants SEQ:HASH"),
        (["ledger", "verify", "--public-key", "abc"], "a public key is 64 hex digits"),
        (["ledger", "balance", "upi:clearing", "--as-of", "yesterday"], "--as-of wants an ISO 8601 time"),
        (["ledger", "balance", "upi:clearing", "--as-of", "2026-01-01T00:00:00"], "needs a time zone"),
    ],
)
def test_bad_input_is_one_clear_line(
    configured: str, argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1 and complaint in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_misconfigured_signing_key_is_named(
    configured: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOSSPAY_LEDGER_SIGNING_KEY", str(tmp_path / "missing.pem"))
    code, _, err = run(capsys, "ledger", "checkpoint")
    assert code == 1 and "FLOSSPAY_LEDGER_SIGNING_KEY names no file" in err
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a key")
    monkeypatch.setenv("FLOSSPAY_LEDGER_SIGNING_KEY", str(bogus))
    code, _, err = run(capsys, "ledger", "checkpoint")
    assert code == 1 and err.strip() == f"flosspay: error: {bogus} is not an unencrypted PEM private key"


def test_ledger_settings_are_read_and_not_mistaken_for_rail_settings(tmp_path: Path) -> None:
    from flosspay.adapters.config import ConfigError, LedgerSettings, load_settings

    key = tmp_path / "key.pem"
    key.write_text("-")
    env = {
        "FLOSSPAY_DATA_DIR": str(tmp_path),
        "FLOSSPAY_LEDGER_SIGNING_KEY": str(key),
        "FLOSSPAY_LEDGER_CHECKPOINT_EVERY": "0",
        "FLOSSPAY_LEDGER_CHAIN_BATCH": "250",
    }
    settings = load_settings(env)
    assert settings.ledger == LedgerSettings(signing_key=key, checkpoint_every=0, chain_batch=250)
    assert "ledger" not in settings.rails.per_rail
    assert load_settings({"FLOSSPAY_DATA_DIR": str(tmp_path)}).ledger == LedgerSettings()
    with pytest.raises(ConfigError, match="FLOSSPAY_LEDGER_CHAIN_BATCH must be between 1 and"):
        load_settings({**env, "FLOSSPAY_LEDGER_CHAIN_BATCH": "0"})


def test_an_export_is_verified_against_a_signed_head(
    configured: str,
    uow_factory: SqlUnitOfWorkFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from flosspay.adapters.ledger_signing import Ed25519Signer
    from flosspay.domain.chain import Checkpoint, signed_head_line

    world = LedgerWorld(uow_factory)
    world.populate()
    code, _, err = run(capsys, "ledger", "head", "--signed")
    assert code == 1 and "FLOSSPAY_LEDGER_SIGNING_KEY" in err
    key = tmp_path / "ledger-key.pem"
    assert run(capsys, "ledger", "keygen", str(key))[0] == 0
    monkeypatch.setenv("FLOSSPAY_LEDGER_SIGNING_KEY", str(key))
    signer = Ed25519Signer.from_file(key)

    code, out, _ = run(capsys, "ledger", "head", "--signed")
    statement = json.loads(out)
    # 16 once populate's records are chained (on a busy shared PostgreSQL server the chainer may wait
    # for other transactions to end, so this test holds for whatever head it was given).
    seq = statement["seq"]
    assert code == 0 and statement["format"] == "flosspay-ledger-head" and 0 <= seq <= 16
    assert statement["publicKey"] == signer.public_key.hex() and len(statement["signature"]) == 128
    head = tmp_path / "head.json"
    head.write_text(out)

    world.pay(5)  # the chain grows after the head was published
    world.chain()
    export = tmp_path / "ledger.jsonl"
    assert run(capsys, "ledger", "export", str(export))[0] == 0
    public = signer.public_key.hex()
    code, out, _ = run(capsys, "ledger", "verify", "--file", str(export), "--head", str(head), "--quiet")
    assert code == 0 and out.startswith("ledger OK: "), out
    code, out, _ = run(
        capsys, "ledger", "verify", "--file", str(export), "--head", str(head), "--public-key", public, "--quiet"
    )
    assert code == 0, out

    # A head signed for another history: this export does not extend it.
    other = Checkpoint(max(seq, 1), bytes(32), datetime(2026, 1, 1, tzinfo=UTC))
    forged = Checkpoint(other.seq, other.hash, other.at, signer.public_key, signer.sign(other.message()))
    (tmp_path / "other.json").write_bytes(signed_head_line(forged))
    code, out, _ = run(capsys, "ledger", "verify", "--file", str(export), "--head", str(tmp_path / "other.json"))
    assert code == 1 and "expected head" in out, out

    tampered = json.loads(head.read_text())
    tampered["seq"] = seq + 1
    (tmp_path / "bad.json").write_text(json.dumps(tampered))
    code, _, err = run(capsys, "ledger", "verify", "--file", str(export), "--head", str(tmp_path / "bad.json"))
    assert code == 1 and "the signature does not verify" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(
        capsys, "ledger", "verify", "--file", str(export), "--head", str(head), "--public-key", "00" * 32
    )
    assert code == 1 and "not one given with --public-key" in err
    (tmp_path / "junk.json").write_text("{}")
    code, _, err = run(capsys, "ledger", "verify", "--file", str(export), "--head", str(tmp_path / "junk.json"))
    assert code == 1 and "is not a head statement" in err

    # Verification from the published head: only the records after it, with the state it signed.
    part = tmp_path / "part.jsonl"
    assert run(capsys, "ledger", "export", "--since", str(seq), str(part))[0] == 0
    code, out, _ = run(
        capsys, "ledger", "verify", "--file", str(part), "--from", str(head), "--public-key", public, "--quiet"
    )
    assert code == 0 and out.startswith(f"ledger OK: records {seq + 1}.."), out
    code, out, _ = run(capsys, "ledger", "verify", "--file", str(part), "--quiet")
    assert code == 1 and "verified from the signed head it starts at" in out, out
    code, _, err = run(capsys, "ledger", "export", "--since", "99999", str(tmp_path / "none.jsonl"))
    assert code == 1 and "there is no seq 99999" in err and len(err.strip().splitlines()) == 1


def test_from_is_for_a_partial_export_file(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ledger", "verify", "--from", "head.json")
    assert code == 1 and "--from verifies a partial export" in err
    code, _, err = run(capsys, "ledger", "export", "--upto", "3", "x.jsonl")
    assert code == 1 and "--upto goes with --since" in err
