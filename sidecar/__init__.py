"""The folder door: watched shares whose files go through the gateway's S3 API.

``settings``        ``[sidecar]`` / ``[[sidecar.shares]]``, validated
``names``           what is ignored, companions, path templates
``stability``       size and mtime unchanged for the window = complete
``companions``      provenance from ``<file>.json``, ``<file>.txt``, ``prompt.txt``, the share
``gateway_client``  the gateway's S3 client, answers sorted into what happens next
``ledger``          LMDB record of what was sent (restarts and rescans redo nothing)
``files``           hashing, atomic writes, moves that never overwrite
``quarantine``      a denied file leaves the share with its reason
``service``         watching, queueing, sending, retrying, XMP beside the file
``run``             ``provgate watch`` with its own metrics listener
"""
