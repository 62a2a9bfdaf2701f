import pytest
from flosspay_upi.vpa import Vpa

from flosspay.railapi import ValidationFailed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", ["alice@upi", "a.b-c_d@okhdfc", "ab@x1", "9876543210@paytm", "x" * 242 + "@bank"])
def test_valid(value):
    assert Vpa.parse(value, "senderUpi").value == value


@pytest.mark.parametrize(
    "value",
    [
        "a@upi",
        "alice",
        "alice@",
        "@upi",
        "alice@1bank",
        "alice@u",
        "al ice@upi",
        "alice@up-i",
        "x" * 257 + "@bank",
        "x" * 243 + "@bank",  # 248 characters: its ledger account upi:vpa:<vpa> would not fit 255
        "alice@" + "b" * 65,
        "alice@upi\n",
        None,
        5,
        "alïce@upi",
    ],
)
def test_invalid(value):
    with pytest.raises(ValidationFailed) as err:
        Vpa.parse(value, "receiverUpi")
    assert err.value.errors[0].field == "receiverUpi"


def test_same_account_ignores_case():
    assert Vpa("Alice@UPI").same_account(Vpa("alice@upi"))
    assert not Vpa("alice@upi").same_account(Vpa("alice@ybl"))


def test_local_part():
    assert Vpa("slow.bob@upi").local_part == "slow.bob"
