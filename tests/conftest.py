import os
import sys
from pathlib import Path

# Qt tests run headless; set before any test imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

# Portable mode (CINEMAP_PORTABLE=1): every Linux-only capability is off
# (viewer.model.platform), and fcntl cannot be imported at all, as on Windows,
# so that nothing can reach flock, leases or F_GETFL behind the platform
# layer's back. Set before any test module imports the model.
if os.environ.get("CINEMAP_PORTABLE", "") not in ("", "0"):
    sys.modules["fcntl"] = None  # type: ignore[assignment]  # None in sys.modules: ImportError on import
