from flosspay.railapi import hookimpl


@hookimpl
def flosspay_rail(settings):
    raise ValueError("FLOSSPAY_RAISING_PSP_URL is required")
