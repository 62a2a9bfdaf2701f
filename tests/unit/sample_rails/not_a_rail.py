from flosspay.railapi import hookimpl


@hookimpl
def flosspay_rail(settings):
    return object()
