#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain how to get one and fail.
set -euo pipefail
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for candidate in "${PYTHON:-}" python3.13 python3.12 python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if ok "$path"; then "$path" -c 'import sys; print(sys.executable)'; exit 0; fi
done
# pyenv installs whose shims are not active (the global version is older).
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for path in "$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3; do
    if [ -x "$path" ] && ok "$path"; then echo "$path"; exit 0; fi
  done
fi
echo "error: no Python >= 3.12 found. Install python3.13 (or 3.12) or set PYTHON=/path/to/python3.13." >&2
exit 1
