"""Distribution: approved assets copied to CDN, storefront and webhook targets, and taken
down again (DESIGN "Review and distribution", docs/distribution.md).

Modules, one job each:

``settings``     ``[distribution]``, ``[targets.NAME]``, ``[c2pa]`` (strict loading)
``distributor``  ``Distributor.on_review_change``: routes, the distribute stage, takedown,
                 rights expiry
``queue``        the durable job queue in the catalog's LMDB
``worker``       runs due jobs, records ``published`` / ``taken_down`` history events
``targets``      s3, fs and webhook destinations
``keys``         key templates and licence dates
``embed``        the record's XMP written into the copy (ExifTool)
``sign``         the copy signed as a C2PA manifest (c2pa-python)
"""

from gateway.distribution.distributor import Distributor

__all__ = ["Distributor"]
