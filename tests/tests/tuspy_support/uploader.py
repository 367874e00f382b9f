"""tuspy (the tus project's Python client) uploading to the gateway with a device certificate.

Run by tests/tests/tuspy_client.rs with the venv's Python. Environment: URL (the gateway),
CERT (the device's key and certificate, one PEM file), FILE, SHA (its hex SHA-256), MODE:
- "once": one upload of FILE from a new upload; prints "url <url>" and "done <offset>".
- "resumable": keeps the upload's URL in STORE (tuspy's FileStorage) and resumes it from the
  server's offset if one is stored; prints "start <offset>", then "offset <n>" after each chunk
  of CHUNK bytes (waiting PAUSE seconds after each, so a test can kill it mid-upload), then
  "done <offset>".
"""

import os
import sys
import time

from tusclient import client
from tusclient.storage import filestorage


def main():
    mode = os.environ["MODE"]
    tus = client.TusClient(os.environ["URL"] + "/v1/uploads", client_cert=os.environ["CERT"])
    meta = {"sha256": os.environ["SHA"], "filename": os.path.basename(os.environ["FILE"])}
    if mode == "once":
        uploader = tus.uploader(os.environ["FILE"], metadata=meta, chunk_size=100_000)
        uploader.upload()
        print("url", uploader.url, flush=True)
        print("done", uploader.offset, flush=True)
        return 0
    storage = filestorage.FileStorage(os.environ["STORE"])
    uploader = tus.uploader(
        os.environ["FILE"],
        metadata=meta,
        chunk_size=int(os.environ["CHUNK"]),
        store_url=True,
        url_storage=storage,
    )
    print("start", uploader.offset, flush=True)
    pause = float(os.environ.get("PAUSE", "0"))
    size = uploader.get_file_size()
    while uploader.offset < size:
        uploader.upload_chunk()
        print("offset", uploader.offset, flush=True)
        time.sleep(pause)
    print("done", uploader.offset, flush=True)
    storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
