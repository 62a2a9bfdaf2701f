"""The kit is public through ``flosspay.railapi``, without making the plugin-loading import heavy."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import flosspay.railapi as railapi
import flosspay.railkit as railkit
from flosspay.railkit import PspTransport

pytestmark = pytest.mark.unit


def test_railapi_re_exports_every_name_of_the_kit_as_the_same_object() -> None:
    assert set(railkit.__all__) <= set(railapi.__all__)
    for name in railkit.__all__:
        assert getattr(railapi, name) is getattr(railkit, name), name


def test_railapi_still_refuses_unknown_names() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        railapi.Nope  # noqa: B018


def test_importing_railapi_alone_loads_no_http_client_nor_the_http_server() -> None:
    probe = "import sys, flosspay.railapi; print(sorted({'httpx', 'urllib3', 'http.server'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_transport_keeps_its_key_out_of_its_repr() -> None:
    transport = PspTransport("https://psp.example/", timeout_seconds=2, api_key="sk_live_hidden_1")
    assert repr(transport) == "PspTransport(base_url='https://psp.example', timeout=2s)"
    assert "sk_live_hidden_1" not in repr(transport) + str(transport)
    assert (transport.base_url, transport.timeout_seconds) == ("https://psp.example", 2)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf])
def test_the_transport_refuses_a_timeout_that_would_not_bound_a_call(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout_seconds must be a positive number of seconds"):
        PspTransport("https://psp.example", timeout_seconds=timeout)
