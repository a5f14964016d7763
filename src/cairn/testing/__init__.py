"""Conformance suites for cairn's storage backends, to subclass in pytest test modules.

Every :class:`~cairn.objects.ObjectStore` and :class:`~cairn.refs.RefStore` makes the same
promises, written once on the interfaces; these suites check them, so each backend's tests are
a few lines that say how to build the store::

    from cairn.objects import MemoryObjectStore
    from cairn.testing import ObjectStoreTests


    class TestMemoryObjectStore(ObjectStoreTests):
        def make_store(self, tmp_path):
            return MemoryObjectStore()

        def corrupt(self, store, oid, data):
            store._corrupt(oid, data)

For S3 there are two more tools: :class:`S3Requests` counts the HTTP requests cairn sends
(botocore's ``before-send`` hook), and :class:`FaultProxy` is a proxy on loopback that adds
latency and injects faults (dropped connections, 500 and 503 answers, lost answers to writes).

The suites are plain classes whose names do not start with ``Test``, so pytest collects only
the subclasses. This package imports pytest; nothing else in cairn imports it, so cairn itself
never needs pytest installed.
"""

from cairn.testing._faults import FaultProxy
from cairn.testing._requests import S3Request, S3Requests
from cairn.testing._stores import (
    MultiProcessRefStoreTests,
    ObjectStoreTests,
    RefStoreTests,
)
from cairn.testing._workers import cas_increments, counter_ids

__all__ = [
    "FaultProxy",
    "MultiProcessRefStoreTests",
    "ObjectStoreTests",
    "RefStoreTests",
    "S3Request",
    "S3Requests",
    "cas_increments",
    "counter_ids",
]
