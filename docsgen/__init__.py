"""What the documentation site generates from the code at build time (``mkdocs_hooks.py``): the CLI
reference from the Typer app, the configuration reference from the settings model, the import
contracts from pyproject.toml. The tests in tests/docs/ import the same functions."""
