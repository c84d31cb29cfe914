"""Drive a GeoReport v2 server with the unmodified ``open311`` client from PyPI.

Runs under Python 2.7 (the client's language), so it is written for 2.7 and 3 alike. Usage:
``python2.7 open311_py27_driver.py ENDPOINT API_KEY SERVICE_CODE LAT LONG``. Prints one JSON
object with what each client call returned, for the test to check.
"""

from __future__ import print_function

import json
import sys

from open311 import Open311


def main(argv):
    endpoint, api_key, service_code, lat, lng = argv[1:6]
    client = Open311(endpoint=endpoint, api_key=api_key, format="xml", jurisdiction="")
    out = {}
    services = client.service_list()
    if isinstance(services, dict):
        services = [services]
    out["service_codes"] = [s["service_code"] for s in services]
    definition = client.service_definition(service_code)
    out["definition_code"] = definition["service_definition"]["service_code"]
    posted = client.post_service_request(
        service_code=service_code,
        lat=lat,
        long=lng,
        description="Street light out at the corner (open311 client)",
        first_name="Zhang",
        last_name="San",
        email="zhang.san@example.com",
    )
    request_id = posted["service_requests"]["request"]["service_request_id"]
    out["posted_id"] = request_id
    out["posted_token"] = posted["service_requests"]["request"].get("token")
    one = client.get_service_request(request_id)
    got = one["service_requests"]["request"]
    out["got"] = {
        "service_request_id": got["service_request_id"],
        "status": got["status"],
        "service_code": got["service_code"],
        "description": got["description"],
        "requested_datetime": got["requested_datetime"],
    }
    listed = client.service_requests(service_code=service_code)
    if isinstance(listed, dict):
        listed = [listed]
    out["listed_ids"] = [r["service_request_id"] for r in listed]
    if out["posted_token"]:
        by_token = client.request_id_from_token(out["posted_token"])
        out["token_id"] = by_token["service_request_id"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
