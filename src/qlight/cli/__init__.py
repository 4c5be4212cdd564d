"""The ``qlight`` command line (typer + rich); one sub-command group per capability."""
