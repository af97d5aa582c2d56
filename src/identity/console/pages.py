"""The privacy officer console's pages, under ``/admin``. Officers only (``gates``); every
form carries a CSRF token except the search, a GET that writes nothing but its own entry.

Email addresses typed into a search are resolved at once and the browser is sent on to the
same search by account reference, so the address stays out of links, bookmarks and history.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from starlette.responses import Response, StreamingResponse

from identity.audit.store import UnknownEntry
from identity.console.gates import ArrivingOfficer, Officer, RecentOfficer
from identity.console.history import ConsentHistory
from identity.console.rules import (
    FIELDS,
    MAX_FIELD,
    MAX_INDEX,
    SIZES,
    BadCursor,
    Email,
    InvalidSearch,
    Problem,
    Search,
    parse_person,
    parse_search,
)
from identity.console.service import Console, NothingSigned
from identity.errors import InvalidInput, NotFound
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    RuntimeDep,
    get_runtime,
    text_field,
)
from identity.web.errors import error_page
from identity.web.pages import redirect, render, safe_next

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

Index = Annotated[int, Path(ge=0, le=MAX_INDEX)]
RecordId = Annotated[int, Path(ge=1, le=MAX_INDEX)]


def _console(runtime: Any) -> Console:
    console: Console = runtime.console
    return console


def _history(runtime: Any) -> ConsentHistory:
    history: ConsentHistory = runtime.consent_history
    return history


@router.get("/admin")
def home(request: Request, officer: Officer) -> Response:
    return render(request, "console/index.html", {"subject": "", "problems": []})


@router.get("/admin/continue")
def arrived_from_elsewhere(request: Request, officer: ArrivingOfficer) -> Response:
    """A console link followed from another site: go on only if the officer chooses to."""
    wanted = safe_next(request.query_params.get("next"))
    target = wanted if wanted.startswith("/admin/") else "/admin"
    return render(request, "console/continue.html", {"target": target})


# -- the audit log -----------------------------------------------------------------------------


def _search_page(
    request: Request,
    form: dict[str, str],
    *,
    search: Search | None = None,
    results: Any = None,
    problems: list[Problem] | None = None,
    status: int = 200,
) -> Response:
    def page(cursor: str | None) -> str | None:
        if search is None or cursor is None:
            return None
        return "/admin/audit?" + urlencode({**search.query(), "cursor": cursor})

    return render(
        request,
        "console/audit.html",
        {
            "form": {name: form.get(name, "") for name in FIELDS},
            "sizes": SIZES,
            "search": search,
            "results": results,
            "older": page(results.older) if results else None,
            "newer": page(results.newer) if results else None,
            "first": "/admin/audit?" + urlencode(search.query()) if search else None,
            "problems": problems or [],
            "zone": get_runtime(request).settings.display_timezone,
        },
        status=status,
    )


@router.get("/admin/audit")
def audit_search(request: Request, runtime: RuntimeDep, officer: Officer) -> Response:
    """The form; with any field sent, one page of matching entries (newest first)."""
    params = request.query_params
    if not any(name in params for name in (*FIELDS, "cursor")):
        return _search_page(request, {})
    fields = {name: params.get(name, "")[:MAX_FIELD] for name in FIELDS}
    console = _console(runtime)
    try:
        search = parse_search(fields)
        if not search.resolved:
            return redirect("/admin/audit?" + urlencode(console.resolve(search).query()))
        cursor = console.cursor(params.get("cursor"), search)
    except InvalidSearch as exc:
        return _search_page(request, fields, problems=exc.problems, status=400)
    except BadCursor:
        problems = [Problem("cursor", "cursor_invalid")]
        return _search_page(request, fields, search=search, problems=problems, status=400)
    results = console.search(officer.user.id, search, cursor)
    return _search_page(request, search.query(), search=search, results=results)


@router.post("/admin/audit/export")
def export(
    request: Request, runtime: RuntimeDep, officer: RecentOfficer, form: CsrfFormDep
) -> Response:
    """The search's entries as a file that verifies offline (JSON Lines or CSV), streamed."""
    fields = {name: text_field(form, name, MAX_FIELD) for name in FIELDS}
    console = _console(runtime)
    try:
        search = console.resolve(parse_search(fields))
        made = console.export(officer.user.id, search, text_field(form, "format", 10))
    except InvalidSearch as exc:
        return _search_page(request, fields, problems=exc.problems, status=400)
    except NothingSigned:
        problems = [Problem("export", "nothing_signed")]
        return _search_page(request, fields, problems=problems, status=409)
    except InvalidInput:
        problems = [Problem("export", "format_invalid")]
        return _search_page(request, fields, problems=problems, status=400)
    return StreamingResponse(
        made.lines,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


@router.get("/admin/audit/{index}")
def entry(request: Request, index: Index, runtime: RuntimeDep, officer: Officer) -> Response:
    """Every field of one entry, and its inclusion proof checked against the latest
    signed checkpoint."""
    try:
        view, proof = _console(runtime).entry(officer.user.id, index)
    except UnknownEntry:
        return error_page(request, 404, "not_found")
    return render(request, "console/entry.html", {"entry": view, "proof": proof})


# -- subjects and their consent ----------------------------------------------------------------


@router.get("/admin/subjects")
def find_subject(request: Request, runtime: RuntimeDep, officer: Officer) -> Response:
    """The landing page's lookup: an account id, email address or anonymous id, to its page."""
    text = request.query_params.get("subject", "")[:MAX_FIELD]
    try:
        ref = _console(runtime).resolve_term(parse_person(text))
    except InvalidSearch as exc:
        context = {"subject": text, "problems": exc.problems}
        return render(request, "console/index.html", context, status=400)
    return redirect("/admin/subjects/" + quote(ref, safe=":"))


@router.get("/admin/subjects/{ref}")
def subject(request: Request, ref: str, runtime: RuntimeDep, officer: Officer) -> Response:
    """A subject's current consent and every record, newest first, each with its receipt."""
    try:
        term = parse_person(ref[:MAX_FIELD])
    except InvalidSearch:
        return error_page(request, 404, "not_found")
    if isinstance(term, Email) or term != ref:  # one address per subject, and no emails in it
        try:
            canonical = _console(runtime).resolve_term(term)
        except InvalidSearch:
            return error_page(request, 404, "not_found")
        return redirect("/admin/subjects/" + quote(canonical, safe=":"))
    history = _history(runtime).subject(officer.user.id, term)
    titles = {purpose.id: purpose for purpose, _ in history.answers}
    return render(request, "console/subject.html", {"history": history, "titles": titles})


@router.get("/admin/receipts/{record_id}")
def receipt(
    request: Request, record_id: RecordId, runtime: RuntimeDep, officer: Officer
) -> Response:
    """A consent record as the signed receipt (JWS) its customer can download."""
    try:
        made = _history(runtime).receipt(officer.user.id, record_id)
    except NotFound:
        return error_page(request, 404, "not_found")
    return Response(
        made.token,
        media_type="application/jwt",
        headers={
            "Content-Disposition": f'attachment; filename="consent-receipt-{made.record_id}.jwt"'
        },
    )
