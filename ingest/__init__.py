"""Everything that talks to the outside world: HTTP sources and the curated quotes file.

Each source returns typed records (pydantic models) plus the raw responses it saw, so the
warehouse can archive them and `capcover rebuild` can re-derive every typed row offline.
"""
