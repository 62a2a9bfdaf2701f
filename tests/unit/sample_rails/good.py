from flosspay.railapi import hookimpl
from tests.fakes import FakeRail

seen_settings: list[dict[str, str]] = []


class Sandbox:
    started: list[tuple[str, int]] = []

    def start(self, host: str, port: int) -> str:
        self.started.append((host, port))
        return "http://127.0.0.1:9999"

    def stop(self) -> None:
        self.started.clear()


@hookimpl
def flosspay_rail(settings):
    seen_settings.append(dict(settings))
    return FakeRail()


@hookimpl
def flosspay_sandbox(settings):
    return Sandbox()
