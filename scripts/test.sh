#!/usr/bin/env bash
# Set up, then run the whole test suite (GUI tests in a real window under Xvfb).
# Screenshots the tests take are saved in test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_API=pyside6 PYTHONFAULTHANDLER=1
# the structure, enforced: import contracts (pyproject [tool.importlinter]) and types (mypy)
echo "test: import contracts"
.venv/bin/lint-imports --no-cache
echo "test: mypy"
.venv/bin/mypy
set +e
xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
