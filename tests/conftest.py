import os
import sys
from pathlib import Path

# Qt tests run headless; set before any test imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))
