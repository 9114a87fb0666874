"""The erfkit dashboard page, for ``streamlit run dashboards/app.py`` from a checkout (default settings).

The page ships with the package (``erfkit/dashboard/app.py``); ``erfkit
dashboard`` starts it with the settings of its flags.  This file only runs it.
"""

import runpy

import erfkit.dashboard

runpy.run_path(str(erfkit.dashboard.APP), run_name="__main__")
