"""``python -m erfkit.dashboard.serve run <page> ...``: Streamlit's command line, with the page's libraries
imported first.

Streamlit runs the page's script when a browser connects, so the first visitor
used to wait for torch, captum and the rest to import (about 4 s on a 2-core
machine) on top of the first view.  Imported here, before the server answers,
they are already loaded when the script first runs.  ``erfkit dashboard``
starts the server this way.
"""

from __future__ import annotations

import sys


def main() -> int:
    import captum.attr  # noqa: F401 - what the page's first run imports, in the order it does
    import matplotlib.pyplot  # noqa: F401

    import erfkit.dashboard.comparison  # noqa: F401
    import erfkit.dashboard.worker  # noqa: F401
    from streamlit.web.cli import main as streamlit

    return streamlit()


if __name__ == "__main__":
    sys.exit(main())
