"""The ``segml`` command line: one thin module per command group over the libraries and the run.

``main`` holds the Typer app and the data commands (synth, validate, convert, features, run);
``clv``, ``churn``, ``segments``, ``explain``, ``report`` and ``serving`` hold the rest.
"""

from segml.cli.main import app, main

__all__ = ["app", "main"]
