"""What the service answers and how much it accepts (one place for every bound)."""

#: modalities answerable with a text query (their index vectors come from the `text` role model)
SERVED_MODALITIES = ("faq", "speech")
DEFAULT_MODALITY = "faq"
MAX_BODY_BYTES = 64 * 1024
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
OVERFETCH = 10
MAX_FULL_FETCH = 10_000
#: metadata fields never returned (they are the record's content/title or internal)
HIDDEN_FIELDS = frozenset({"content", "title", "answer", "content_hash", "embed_text", "audio_hash"})
