"""LangChain RAG: Qdrant vector store -> RagRerank compression -> prompt -> chat model.

Run: ``python cookbooks/01_langchain_rag.py`` (``--smoke`` for the tiny CI version).
The chat model is LangChain's FakeListChatModel so this runs offline; swapping a real one is
one line (e.g. ``llm = ChatOpenAI(model="gpt-4o-mini")``).
"""

from __future__ import annotations

from _common import (
    choose_reranker,
    minilm,
    parse_args,
    scifact_slice,
    short,
    timed,
)
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_qdrant import QdrantVectorStore

from langchain_ragrerank import RagRerank
from ragrerank.retrieval.qdrant import point_id

args = parse_args(__doc__ or "")
RERANKER, RERANKER_NOTE = choose_reranker()
ds = scifact_slice(args.smoke)
k = 6 if args.smoke else 20
timings: dict[str, float] = {}

# 1. Vector store: embedded Qdrant (":memory:") with MiniLM embeddings.
embeddings = HuggingFaceEmbeddings(model_name=minilm())  # real use: the hub name
cands = ds.documents()
docs = [Document(page_content=c.text, metadata={**c.metadata, "doc_id": c.id}) for c in cands]
with timed("index", timings):  # Qdrant point ids must be UUIDs or ints: uuid5 of the doc id
    store = QdrantVectorStore.from_documents(
        docs,
        embeddings,
        ids=[point_id(c.id) for c in cands],  # type: ignore[arg-type]
        location=":memory:",
        collection_name="scifact",
    )

# 2. Retriever with reranking: fetch k, keep the best 3 by cross-encoder score.
reranker = RagRerank(RERANKER, top_n=3)
retriever = ContextualCompressionRetriever(
    base_compressor=reranker, base_retriever=store.as_retriever(search_kwargs={"k": k})
)

# 3. Prompt + LLM (fake, offline).
prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer from the context only and cite sources as [n].\n\n{context}"),
        ("human", "{question}"),
    ]
)
llm = FakeListChatModel(responses=["(fake LLM) Based on [1], the claim is supported."])
chain = prompt | llm | StrOutputParser()

question = next(iter(ds.queries.values()))
with timed("vector search", timings):
    before = store.as_retriever(search_kwargs={"k": k}).invoke(question)
with timed("search + rerank", timings):
    reranked = retriever.invoke(question)
context = "\n\n".join(
    f"[{n}] (source: {d.metadata['source']})\n{d.page_content}" for n, d in enumerate(reranked, 1)
)
with timed("llm", timings):
    answer = chain.invoke({"context": context, "question": question})

print(f"question: {question}\n\n{RERANKER_NOTE}\n\nvector search top 5:")
for d in before[:5]:
    print(f"  {d.metadata['doc_id']:>10}  {short(d.page_content, 70)}")
print("after RagRerank (top 3):")
for d in reranked:
    score = d.metadata["rerank_score"]
    print(f"  {d.metadata['doc_id']:>10}  rerank={score:.3f}  {short(d.page_content, 55)}")
print(f"\nprompt context: {len(context)} chars\nanswer: {answer}")
print("timings (ms): " + ", ".join(f"{name} {v:.0f}" for name, v in timings.items()))
