"""The rail names its ledger accounts: a valid name, the same for the same payer, never a secret."""

from __future__ import annotations

import re

from flosspay.railapi import PreparedPayment, rail_account
from flosspay_conformance.driver import RailDriver

_DIGIT_RUN = re.compile(r"\d{12,19}")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _names(rail_name: str, prepared: PreparedPayment) -> list[str]:
    names = []
    for side, segments in (("payer", prepared.payer_account), ("payee", prepared.payee_account)):
        assert isinstance(segments, tuple), f"{side}_account must be a tuple of segments, not {type(segments).__name__}"
        if side == "payee" and not segments:
            continue  # the merchant is paid
        assert segments, "prepare must name the payer's account (PreparedPayment.payer_account)"
        assert all(isinstance(s, str) and s for s in segments), f"{side}_account segments must be non-empty text"
        name = rail_account(rail_name, segments)
        assert name is not None, f"{side}_account {segments!r} makes no valid account name (at most 255 characters)"
        names.append(name)
    return names


def test_the_rail_names_valid_payer_and_payee_accounts(rail_driver: RailDriver) -> None:
    prepared = rail_driver.prepare(rail_driver.fields("valid"))
    names = _names(rail_driver.rail.name, prepared)
    assert names[0].startswith(f"{rail_driver.rail.name.lower()}:"), "accounts live under the rail's own name"


def test_the_same_payer_gets_the_same_accounts_on_every_call(rail_driver: RailDriver) -> None:
    """Accounts follow from what is stored: equal details name equal accounts (a balance is one name).

    A PSP that hands out a new token per tokenisation stores different details each time; then only
    the names' validity is checked here.
    """
    fields = rail_driver.fields("valid")
    first, second = rail_driver.prepare(fields), rail_driver.prepare(fields)
    if first.details == second.details:
        assert (first.payer_account, first.payee_account) == (second.payer_account, second.payee_account), (
            "preparing the same request twice must name the same accounts, or balances mean nothing"
        )
    _names(rail_driver.rail.name, first)
    _names(rail_driver.rail.name, second)


def test_account_names_hold_no_card_number_and_no_secret(rail_driver: RailDriver) -> None:
    for scenario in ("valid", "declined", "action_required"):
        fields = getattr(rail_driver.scenarios, scenario)("accounts")
        if fields is None:
            continue
        prepared = rail_driver.prepare(fields)
        names = _names(rail_driver.rail.name, prepared)
        for secret in rail_driver.scenarios.secrets(fields):
            if len(secret) < 6:  # a CVV could match a token by chance
                continue
            assert not any(secret in name for name in names), f"an account name of {scenario!r} holds a secret"
        for name in names:
            for run in _DIGIT_RUN.findall(name):
                assert not _luhn(run), f"the account name {name!r} holds what looks like a card number"
