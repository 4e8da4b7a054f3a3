#!/usr/bin/env bash
# Build the one-folder Cinemap app into packaging/dist/cinemap/ with PyInstaller.
#
#   packaging/build.sh            # incremental build (reuses packaging/build/)
#   packaging/build.sh --clean    # extra arguments go to PyInstaller
#   PYTHON=.venv/bin/python packaging/build.sh
#
# Needs the app's dependencies and PyInstaller in that Python:
#   pip install -e '.[package]'
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if ! "$python" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: PyInstaller is not installed in $python; run: $python -m pip install -e '.[package]'" >&2
    exit 2
fi

started=$SECONDS
"$python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$here/dist" --workpath "$here/build" "$@" "$here/cinemap.spec"

app="$here/dist/cinemap"
echo "Built $app/cinemap in $((SECONDS - started)) s"
echo "Size: $(du -sh "$app" | cut -f1) ($(find "$app" -type f | wc -l) files)"
"$app/cinemap" --version
