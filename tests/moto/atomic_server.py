"""moto's server with S3 conditional writes made atomic, as they are on real S3.

moto 5.2.5 checks `If-Match` / `If-None-Match` in `S3Response.put_object` and stores the
object several steps later, without a lock (see tests/moto/conditional_create_race.py for
the same gap in DynamoDB): two concurrent conditional writes can both succeed. Real S3
never lets that happen, and plughost's manifest updates rely on it. This wrapper holds
one lock around each PutObject, so the tests that race writers (two concurrent
`plughost push`) judge plughost's retry logic rather than moto's race.

Usage: the same arguments as moto_server (host/tests/integration/support/moto.rs starts it).
"""

import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_put_object = S3Response.put_object
_lock = threading.Lock()


def _atomic_put_object(self, *args, **kwargs):
    with _lock:
        return _put_object(self, *args, **kwargs)


S3Response.put_object = _atomic_put_object

if __name__ == "__main__":
    sys.exit(main())
