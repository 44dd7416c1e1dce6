"""Thumbnails and video posters of stored versions, for the review UI.

``service``  :class:`Thumbnails`: made on first view from bytes the caller reads through
             the gatekeeper, cached; what can and cannot have one
``cache``    :class:`ThumbnailCache`: files outside every bucket, bounded in bytes, LRU
``render``   Pillow and ffmpeg, with the limits that make hostile media harmless
"""
