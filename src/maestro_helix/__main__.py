"""``python -m maestro_helix``."""

from maestro_helix.cli.main import main

main()
