"""Documents: list, read, add or replace, delete. Writes need an API key and are searchable when they return."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from rag import BadDocument
from rag.documents import make_document

from ..deps import EngineDep, SettingsDep, require_key
from ..errors import field_error, responses
from ..models import (DOC_ID_PATTERN, AddedOut, DocumentOut, DocumentPageOut, DocumentsIn, DocumentSummaryOut,
                      IndexOut)

router = APIRouter(prefix="/v1/documents", tags=["documents"])

DocId = Annotated[str, Path(pattern=DOC_ID_PATTERN, description="A document id (16 hex digits).")]
WRITE = [Depends(require_key)]


@router.get("", summary="List documents")
def list_documents(
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Documents to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="Documents in this page.")] = 50,
) -> DocumentPageOut:
    """A page of documents with their metadata and chunk counts, in index order."""
    total, page = engine.documents(offset, limit)
    return DocumentPageOut(total=total, offset=offset, limit=limit,
                           documents=[DocumentSummaryOut(**dataclasses.asdict(d)) for d in page])


@router.get("/{doc_id}", summary="Read a document", responses=responses(404))
def get_document(doc_id: DocId, engine: EngineDep) -> DocumentOut:
    """A document's metadata and full text, so a passage's offsets can be shown in context."""
    document = engine.document(doc_id)
    if document is None:
        raise HTTPException(404, "no document with this id")
    fields = document.metadata()
    fields.pop("path")  # where `rag index` read it from: the server's business
    return DocumentOut(doc_id=doc_id, text=document.text, **fields)


@router.post("", status_code=201, dependencies=WRITE, summary="Add or replace documents",
             responses=responses(400, 401, 403, 413, 415, 507))
def add_documents(body: DocumentsIn, engine: EngineDep, settings: SettingsDep) -> AddedOut:
    """Add documents; one with the URL of an indexed document replaces it. They are stored durably, chunked,
    embedded and searchable when this returns (a new segment); questions asked meanwhile use the previous
    state. `rag index` keeps them: it replaces only the documents of the corpus paths it reads."""
    documents = []
    for i, doc in enumerate(body.documents):
        given = doc.model_dump(exclude={"text", "extra"}, exclude_defaults=True)
        # The named fields first: where `extra` names one too, or an alias of one ("date"), they win.
        meta = given | {key: value for key, value in doc.extra.items() if key not in given}
        try:
            documents.append(make_document(doc.text, meta, source_by_host=settings.source_by_host))
        except BadDocument as exc:  # "where: what"; the location says where
            raise field_error(("body", "documents", i), str(exc).partition(": ")[2] or str(exc)) from None
    report = engine.add_documents(documents)
    return AddedOut(doc_ids=[d.doc_id for d in documents], embedded=report.embedded, index=IndexOut.of(engine))


@router.delete("/{doc_id}", status_code=204, dependencies=WRITE, summary="Delete a document",
               responses=responses(401, 403, 404, 507))
def delete_document(doc_id: DocId, engine: EngineDep) -> Response:
    """Remove a document and its passages from the index."""
    if not engine.delete_document(doc_id):
        raise HTTPException(404, "no document with this id")
    return Response(status_code=204)
