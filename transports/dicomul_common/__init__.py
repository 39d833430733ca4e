"""dicomul_common: what every adapter shares that is not protocol.

The core (:mod:`dicomul`) holds the DICOM rules and does no I/O.  Some work
every adapter needs is file or dictionary work, so it cannot live there;
it lives here once, used by the blocking adapter (``dicomul_sync``) and the
async ones (``dicomul_anyio``, which call the blocking file work in a worker
thread):

- :mod:`dicomul_common.sop_classes`: the SOP class lists and constants,
  built from pydicom's UID dictionary;
- :mod:`dicomul_common.storage`: the durable store (:class:`DurableFile`:
  Success only once a data set is fsynced under its final name) and reading
  a few attributes of a stored file as a stream;
- :mod:`dicomul_common.outgoing`: turning a Dataset or a Part 10 file into
  a C-STORE request on an accepted context (a file sent as it is on disk
  when its syntax was accepted, re-encoded otherwise);
- :mod:`dicomul_common.requests`: the request an SCP handler serves
  (:class:`ServiceRequest`, :func:`current_request`), the same in every
  adapter;
- :mod:`dicomul_common.handling`: what a handler's answer, or its raise,
  becomes (through the core's status tables), which errors are the
  peer's data, and a request's data set collected within a bound.
- :mod:`dicomul_common.events`: event handlers (the registry, the Event
  object, notifications, the wire watcher) over the core's event types;
- :mod:`dicomul_common.negotiation`: the user identity a request asserts
  and what an identity handler's answer becomes, and the contexts an AE
  supports by SOP class, as the core's negotiation takes them.

Nothing is imported here, so importing one module stays cheap.
"""
