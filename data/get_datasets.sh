#!/usr/bin/env bash
# Fetch CIFAR-10 into this folder (data/ of the kit's repository or of the student bundle), the way
# CS231n's get_datasets.sh does -- but verified:
# the archive is MD5-checked, extracted safely and only then moved into place; re-running
# when the data is already there does nothing.
#
#   bash data/get_datasets.sh                          # official URL and checksum
#   bash data/get_datasets.sh --url URL --md5 MD5      # a mirror (or set CIFAR10_URL / CIFAR10_MD5)
#   bash data/get_datasets.sh --force                  # download again
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -x "$repo/.venv/bin/python" ]; then
  py="$repo/.venv/bin/python"
else
  py="python3"
fi
if ! "$py" -c "import cs231n_utils.data" 2>/dev/null; then
  echo "error: cs231n_utils is not installed for $py. Install it first: in the student bundle's folder" \
       "'pip install cs231n_utils-*.whl' (see its README.md); in the kit's repository 'make setup'." \
       "Or name the Python that has it: PYTHON=/path/to/python bash $0" >&2
  exit 1
fi
exec "$py" -m cs231n_utils.data download --dir "$here" "$@"
