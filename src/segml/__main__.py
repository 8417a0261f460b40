"""``python -m segml`` runs the command line."""

from segml.cli.main import main

main()
