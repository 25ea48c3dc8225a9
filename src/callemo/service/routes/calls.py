"""``/api/calls``: upload a recording, list and fetch calls (record, analysis, segments, report,
recording), delete a call."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ...analyze.options import OptionsError, parse_options
from ..deps import ServiceConfig, call_or_404, get_config, get_store, get_worker
from ..schemas import Call, CallList, ErrorDetail, SegmentRecord
from ..storage import MAX_OFFSET, STATUSES, Store
from ..uploads import MAX_NAME, UploadError, UploadRoute, audio_extension, check_audio, clean_name, file_chunks, spool
from ..worker import AnalysisWorker

router = APIRouter(prefix="/api/calls", tags=["calls"])
upload_router = APIRouter(prefix="/api/calls", tags=["calls"], route_class=UploadRoute)

#: the options an upload may set (the rest of callemo.analyze.options.AnalysisOptions keeps its defaults)
UPLOAD_OPTIONS = ("channels", "speakers", "first_speaker", "emotions", "transcribe", "asr", "redact", "redact_names",
                  "redact_audio")
#: what the option fields accept (AnalysisOptions checks them again, with a clear message)
CHANNELS = r"^\s*(mono|(agent|client)(\s*,\s*(agent|client))?)?\s*$"
SPEAKERS = r"^\s*(auto|[1-9]|10)?\s*$"
Role = Literal["agent", "client"]
Emotions = Literal["client", "all"]
Asr = Literal["base", "tiny.en"]
#: a transcription language: auto or a Whisper code (AnalysisOptions checks the code)
LANGUAGE = r"^\s*(auto|[A-Za-z]{2,3})?\s*$"
#: error answers are JSON ``{"detail": "..."}`` whatever the route's own media type (HTML report, audio)
ERROR_JSON = {"application/json": {"schema": ErrorDetail.model_json_schema()}}
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": ERROR_JSON}
    for s, d in ((400, "Bad upload"), (401, "Missing or wrong API token"), (404, "No such call"),
                 (409, "The call is not analysed yet"), (413, "Upload too large"), (415, "Not a supported audio file"),
                 (422, "A parameter or option is not valid (the message names it)"))}

UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "audio/*": {"schema": {"type": "string", "format": "binary"},
                        "description": "the recording as the raw body; name and options as query parameters"},
        },
    }
}


@upload_router.post("", status_code=202, response_model=Call, summary="Upload a call recording for analysis",
                    openapi_extra=UPLOAD_DOC, responses={k: v for k, v in ERRORS.items() if k not in (404, 409)})
async def upload(
    request: Request,
    store: Store = Depends(get_store),
    worker: AnalysisWorker = Depends(get_worker),
    config: ServiceConfig = Depends(get_config),
    file: UploadFile | None = File(None, description="WAV, FLAC or MP3 recording"),
    form_channels: str | None = Form(None, alias="channels", pattern=CHANNELS,
                                        description="stereo channel roles in order, e.g. 'agent,client' "
                                                    "(default: channel 0 = agent), or 'mono'"),
    form_speakers: str | None = Form(None, alias="speakers", pattern=SPEAKERS,
                                        description="speakers in a mono call: 1-10 or 'auto' (default 2)"),
    form_first_speaker: Role | None = Form(None, alias="first_speaker",
                                              description="role of whoever talks first in a mono call"),
    form_emotions: Emotions | None = Form(None, alias="emotions",
                                             description="whose emotions are inferred: client (default) | all"),
    form_transcribe: str | None = Form(None, alias="transcribe", pattern=LANGUAGE,
                                          description="transcribe the call: auto (detect the language) or a "
                                                      "language code such as en (default: no transcript)"),
    form_asr: Asr | None = Form(None, alias="asr", description="speech recognition model: base | tiny.en "
                                                               "(default: tiny.en for en, else base)"),
    form_redact: bool | None = Form(None, alias="redact",
                                       description="replace card/account/phone numbers and e-mails in the "
                                                   "transcript by tags (default true)"),
    form_redact_names: bool | None = Form(None, alias="redact_names", description="also redact names"),
    form_redact_audio: bool | None = Form(None, alias="redact_audio",
                                             description="also mute the redacted words in the stored recording"),
    filename: str | None = Query(None, max_length=MAX_NAME, description="file name (raw body uploads)"),
    channels: str | None = Query(None, pattern=CHANNELS, description="as the form field"),
    speakers: str | None = Query(None, pattern=SPEAKERS, description="as the form field"),
    first_speaker: Role | None = Query(None, description="as the form field"),
    emotions: Emotions | None = Query(None, description="client (default) | all"),
    transcribe: str | None = Query(None, pattern=LANGUAGE, description="as the form field"),
    asr: Asr | None = Query(None, description="as the form field"),
    redact: bool | None = Query(None, description="as the form field"),
    redact_names: bool | None = Query(None, description="as the form field"),
    redact_audio: bool | None = Query(None, description="as the form field"),
) -> JSONResponse:
    ctype = request.headers.get("content-type", "")
    multipart = ctype.lower().startswith("multipart/form-data")
    audio_tmp: Path | None = None
    try:
        try:
            if multipart:
                if file is None:
                    raise UploadError(400, "no file in the upload: send the recording in the form field 'file'")
                name = clean_name(file.filename)
                audio_tmp, size = await spool(file_chunks(file), store.tmp_dir, config.max_upload_bytes)
                form = {"channels": form_channels, "speakers": form_speakers, "first_speaker": form_first_speaker,
                        "emotions": form_emotions, "transcribe": form_transcribe, "asr": form_asr,
                        "redact": form_redact, "redact_names": form_redact_names, "redact_audio": form_redact_audio}
            else:
                name = clean_name(filename)
                audio_tmp, size = await spool(request.stream(), store.tmp_dir, config.max_upload_bytes)
                form = {}
            query = {"channels": channels, "speakers": speakers, "first_speaker": first_speaker, "emotions": emotions,
                     "transcribe": transcribe, "asr": asr, "redact": redact, "redact_names": redact_names,
                     "redact_audio": redact_audio}
            given = {k: form.get(k) if form.get(k) is not None else query[k] for k in UPLOAD_OPTIONS}
            try:
                opts = parse_options({k: v for k, v in given.items() if v not in (None, "")})
            except OptionsError as e:
                raise UploadError(422, str(e)) from None
            if size == 0:
                raise UploadError(400, f"{name}: the uploaded file is empty (0 bytes)")
            ext = audio_extension(name, ctype, multipart)
            info = await run_in_threadpool(check_audio, audio_tmp, ext, name)
        except UploadError as e:
            raise HTTPException(e.status, e.message) from None
        # the recording is in place before the call exists: a call is never left without its audio
        call_id = uuid.uuid4().hex
        dest = store.recording_path(call_id, ext)
        audio_tmp.replace(dest)
        audio_tmp = None
        try:
            call = store.add(name, call_id=call_id, duration=round(info.duration, 3),
                             options=opts.model_dump(mode="json", include=set(UPLOAD_OPTIONS)))
        except BaseException:
            shutil.rmtree(dest.parent, ignore_errors=True)
            raise
        if config.start_worker:
            worker.submit(call_id)
        return JSONResponse(Call.model_validate(call).model_dump(mode="json"), status_code=202,
                            headers={"Location": f"/api/calls/{call_id}"})
    finally:
        if audio_tmp is not None:
            audio_tmp.unlink(missing_ok=True)


@router.get("", response_model=CallList, summary="List calls, newest first",
            responses={401: ERRORS[401], 422: ERRORS[422]})
def list_calls(
    store: Store = Depends(get_store),
    needs_review: bool | None = Query(None, description="true | false"),
    status: Literal["queued", "running", "done", "failed"] | None = Query(None, description=" | ".join(STATUSES)),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    items, total = store.list(needs_review=needs_review, status=status, limit=limit, offset=offset)
    for it in items:
        it["client_trend"] = ((it.get("summary") or {}).get("client_trend") or {}).get("direction")
        it.pop("summary", None)
        it.pop("options", None)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{call_id}", response_model=Call, summary="A call and (once done) its analysis JSON",
            responses={401: ERRORS[401], 404: ERRORS[404], 422: ERRORS[422]})
def get_call(call_id: str, store: Store = Depends(get_store)) -> dict[str, Any]:
    c = call_or_404(store, call_id)
    c["result"] = store.result(call_id) if c["status"] == "done" else None
    return c


@router.get("/{call_id}/segments", response_model=list[SegmentRecord], summary="A call's analysed segments",
            responses={401: ERRORS[401], 404: ERRORS[404], 422: ERRORS[422]})
def get_segments(call_id: str, store: Store = Depends(get_store)) -> list[dict[str, Any]]:
    call_or_404(store, call_id)
    return store.segments(call_id)


@router.get("/{call_id}/report", response_class=HTMLResponse,
            summary="The call's HTML report (summary, plot, segment table, audio player)",
            responses={401: ERRORS[401], 404: ERRORS[404], 409: ERRORS[409], 422: ERRORS[422]})
def get_report(call_id: str, store: Store = Depends(get_store)) -> HTMLResponse:
    c = call_or_404(store, call_id)
    if c["status"] != "done":
        raise HTTPException(409, f"call {call_id} is {c['status']}: the report is ready when its status is done"
                            + (f" ({c['error']})" if c.get("error") else ""))
    p = store.result_path(call_id, "html")
    if not p.exists():
        raise HTTPException(404, f"call {call_id} has no HTML report"
                            + (" (live calls are reported as JSON only)" if c.get("source") == "stream" else ""))
    return HTMLResponse(p.read_text(encoding="utf-8"))


@router.get("/{call_id}/audio", response_class=FileResponse, summary="The uploaded recording",
            responses={200: {"content": {"audio/*": {}}}, 401: ERRORS[401], 404: ERRORS[404], 422: ERRORS[422]})
def get_audio(call_id: str, store: Store = Depends(get_store)) -> FileResponse:
    c = call_or_404(store, call_id)
    p = store.audio_path(call_id)
    if p is None:
        raise HTTPException(404, f"call {call_id} has no stored recording")
    return FileResponse(p, filename=Path(c["file_name"]).stem + p.suffix)


@router.delete("/{call_id}", status_code=204, response_class=Response, summary="Delete a call and its files",
               responses={401: ERRORS[401], 404: ERRORS[404], 422: ERRORS[422]})
def delete_call(call_id: str, store: Store = Depends(get_store)) -> Response:
    if not store.delete(call_id):
        raise HTTPException(404, f"no call with id {call_id!r}")
    return Response(status_code=204)
