import time
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from civicgrid.cases.categories import load_default_categories, category_tree_export

@pytest.mark.django_db
def test_smoke():
    t=time.monotonic()
    with CaptureQueriesContext(connection) as ctx:
        r = load_default_categories()
    print(r, time.monotonic()-t, len(ctx.captured_queries))
    t=time.monotonic()
    r = load_default_categories()
    print(r, time.monotonic()-t)
    e = category_tree_export()
    import json
    f = json.load(open('civicgrid/cases/data/categories.json'))
    print(e["categories"] == f["categories"])
    for a,b in zip(e["categories"], f["categories"]):
        if a!=b: print(a,b); break
