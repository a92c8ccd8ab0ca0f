"""The operator's command-line tool: `shop backup`, `restore`, `audit-data`, `launch-check`, `seed`.

Run `shop --help` (or `python -m shop --help`); docs/operations.md walks through every task.
"""
