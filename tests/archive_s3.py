"""An S3 archive for tests: moto's standalone server over real HTTP.

``s3_archive`` starts ``ThreadedMotoServer`` on an ephemeral port, creates a
bucket and points the ``archive`` storage at it (Django resets its storage
handler when ``STORAGES`` changes). Yields the boto3 bucket for assertions.
"""

from __future__ import annotations

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

BUCKET = "pm-archive-test"


@pytest.fixture
def s3_archive(settings):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its in-memory backends per process, not per server: start clean.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    credentials = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }
    s3 = boto3.resource("s3", endpoint_url=endpoint, **credentials)
    bucket = s3.create_bucket(Bucket=BUCKET)
    storages = dict(settings.STORAGES)
    storages["archive"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "location": "archive",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
    settings.STORAGES = storages
    try:
        yield bucket
    finally:
        server.stop()
