"""Demo data for ``make run`` (filled in below)."""


def register_demo_cli(app) -> None:
    pass
