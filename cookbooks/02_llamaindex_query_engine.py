"""LlamaIndex query engine: VectorStoreIndex on Qdrant with RagRerank as node postprocessor.

Run: ``python cookbooks/02_llamaindex_query_engine.py`` (``--smoke`` for the tiny CI version).
``warnings.filterwarnings("ignore", message="Payload indexes have no effect")
Settings.llm = None`` makes the engine return the retrieved context instead of calling an
LLM, so this runs offline; set ``Settings.llm`` to a real model to get answers.
"""

from __future__ import annotations

import warnings

from _common import (
    choose_reranker,
    minilm,
    parse_args,
    scifact_slice,
    short,
    timed,
)
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.postprocessor.ragrerank import RagRerank
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from ragrerank.retrieval.qdrant import point_id

args = parse_args(__doc__ or "")
RERANKER, RERANKER_NOTE = choose_reranker()
ds = scifact_slice(args.smoke)
k = 6 if args.smoke else 20
timings: dict[str, float] = {}

warnings.filterwarnings("ignore", message="Payload indexes have no effect")
Settings.llm = None  # no LLM offline: the response is the reranked context
Settings.embed_model = HuggingFaceEmbedding(model_name=minilm())  # real use: the hub name

# 1. Index SciFact nodes into an embedded Qdrant collection (node ids must be UUIDs for Qdrant).
nodes = [
    TextNode(
        text=c.text,
        id_=point_id(c.id),  # type: ignore[arg-type]
        metadata={"doc_id": c.id, "source": c.metadata["source"]},
        excluded_embed_metadata_keys=["doc_id", "source"],  # embed and rerank the text only
    )
    for c in ds.documents()
]
store = QdrantVectorStore("scifact", client=QdrantClient(":memory:"))
with timed("index", timings):
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store)
    )

# 2. Query engine: retrieve k, rerank with ragrerank, keep 3.
rerank = RagRerank(RERANKER, top_n=3)
engine = index.as_query_engine(similarity_top_k=k, node_postprocessors=[rerank])
plain = index.as_retriever(similarity_top_k=k)

question = next(iter(ds.queries.values()))
with timed("vector search", timings):
    before = plain.retrieve(question)
with timed("search + rerank", timings):
    response = engine.query(question)

print(f"question: {question}\n\n{RERANKER_NOTE}\n\nvector search top 5:")
for n in before[:5]:
    print(
        f"  {n.node.metadata['doc_id']:>10}  score={n.score:.3f}  {short(n.node.get_content(), 55)}"
    )
print("after RagRerank (top 3):")
for n in response.source_nodes:
    meta = n.node.metadata
    print(
        f"  {meta['doc_id']:>10}  relevance={n.score:.3f} (retrieval {meta['retrieval_score']:.3f})"
        f"  {short(n.node.get_content(), 40)}"
    )
print(f"\nresponse (context only, Settings.llm=None): {short(str(response), 120)}")
print("timings (ms): " + ", ".join(f"{name} {v:.0f}" for name, v in timings.items()))
