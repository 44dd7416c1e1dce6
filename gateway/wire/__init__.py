"""The bottom layer: S3 as it is spoken on the wire, with no provgate rules in it.

``sigv4`` / ``sigv2``  signature math (verifying incoming, signing outgoing requests)
``xml``               S3 XML documents provgate answers with and request XML it parses
``xmldoc``            S3 XML documents an upstream S3 answers with
``names``             bucket name and object key rules
``provenance_headers`` the x-amz-meta- names of provgate's provenance headers
``client``            the signed S3 client the s3 storage backend and the sidecar share
``addresses``         ``host:port`` listen addresses
``listen``            an aiohttp site on one, and the stop signal

Imports nothing of provgate but :mod:`gateway.errors`.
"""
