"""UPI Virtual Payment Address (``name@handle``), validated by NPCI's accepted shape: UPI's rule, the rail's own."""

from __future__ import annotations

import re

import msgspec

from flosspay.railapi import FieldError, ValidationFailed

VPA_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{2,256}@[a-zA-Z][a-zA-Z0-9]{1,63}$")
# The longest VPA FlossPay can record: its ledger account ``upi:vpa:<vpa>`` must fit 255 characters.
MAX_VPA_LENGTH = 247


class Vpa(msgspec.Struct, frozen=True):
    """A syntactically valid VPA; comparisons that matter (sender vs receiver) ignore case."""

    value: str

    @classmethod
    def parse(cls, value: object, field: str) -> Vpa:
        if not isinstance(value, str) or not VPA_PATTERN.fullmatch(value):
            raise ValidationFailed([FieldError(field, "must be a UPI address like name@bank")])
        if len(value) > MAX_VPA_LENGTH:
            raise ValidationFailed([FieldError(field, f"must be at most {MAX_VPA_LENGTH} characters")])
        return cls(value)

    @property
    def local_part(self) -> str:
        return self.value.rsplit("@", 1)[0]

    def same_account(self, other: Vpa) -> bool:
        return self.value.casefold() == other.value.casefold()
