from flosspay.railapi import hookimpl


@hookimpl
def flosspay_make_coffee(settings):
    return None
