"""What the service answers and how much it accepts (one place for every bound)."""

#: modalities answerable with a text query (their index vectors come from the `text` role model)
SERVED_MODALITIES = ("faq", "speech")
DEFAULT_MODALITY = "faq"
#: Dify sets no limit on a query; the body bound only keeps a client from exhausting memory
MAX_BODY_BYTES = 1024 * 1024
#: the encoders read this many characters of a query (a longer one is answered from its start, logged)
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
#: top_k when Dify sends none (null): the example of Dify's External Knowledge API docs
DEFAULT_TOP_K = 5
OVERFETCH = 10
MAX_FULL_FETCH = 10_000
#: metadata fields never returned (they are the record's content/title or internal)
HIDDEN_FIELDS = frozenset({"content", "title", "answer", "content_hash", "embed_text", "audio_hash"})
