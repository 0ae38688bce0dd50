"""tests/core test the C extension itself, whichever backend `Table` runs: once per CI run.

The README's test command runs the suite twice, on the C core and then with
CONCURRENT_TABLES_BACKEND=python; these tests run in the first pass only.
"""

from concurrent_tables import backend

if backend.core is None:
    collect_ignore_glob = ["test_*.py"]
