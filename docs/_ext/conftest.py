# The extensions here import each other as conf.py loads them, with this folder on
# sys.path; the doctest collection imports them the same way.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
