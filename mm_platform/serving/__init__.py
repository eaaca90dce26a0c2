"""Serving: a Dify External Knowledge API (`POST /retrieval`) over every tenant's live indexes,
with hot swap of index versions, micro-batched encoding and tenant-bound API keys.

`create_app(layout, keys)` builds the ASGI app; `server.main(argv)` runs it with uvicorn
(`mm serve`). See `mm_platform.serving.app` for the contract and error codes.
"""

from mm_platform.serving.app import SERVED_MODALITIES, create_app
from mm_platform.serving.keys import KeyRing, generate_demo_keys, load_keys

__all__ = ["SERVED_MODALITIES", "KeyRing", "create_app", "generate_demo_keys", "load_keys"]
