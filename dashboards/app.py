"""The erfkit dashboard page, for ``streamlit run dashboards/app.py [-- --data D --checkpoint A --checkpoint B]``.

The page ships with the package (``erfkit/dashboard/app.py``, what ``erfkit
dashboard`` starts); this file only runs it from a checkout.
"""

import runpy

import erfkit.dashboard

runpy.run_path(str(erfkit.dashboard.APP), run_name="__main__")
