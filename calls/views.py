"""Operator console pages: the campaign board and a call's page, refreshed live through the calls WebSocket."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from calls.forms import RehearsalForm, SingleCallForm
from calls.media_pressure import media_busy
from calls.models import Call
from calls.selectors import call_handoff, calls_recent, campaign_progress_list
from calls.services.dialing import SingleCallError, call_single_start
from calls.simulation import campaign_rehearsal_start
from config.celery import NoWorker
from config.media import private_file_response

BOARD_PARTS = {"progress", "calls"}


@login_required
@permission_required("calls.view_call", raise_exception=True)
def board(request: HttpRequest) -> HttpResponse:
    context = {"progress": campaign_progress_list(), "calls": calls_recent(), "rehearsal_form": RehearsalForm(),
               "media_busy": media_busy()}
    part = request.GET.get("part")
    if request.htmx and part in BOARD_PARTS:  # the live script asks for a fresh partial after an event
        return render(request, f"calls/board.html#{part}", context)
    return render(request, "calls/board.html", context)


@login_required
@permission_required("calls.view_call", raise_exception=True)
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("contact", "campaign", "lead"), pk=pk)

    # the summary so far appears once the bot asks to put the callee through to a person (issue 14)
    context = {"call": call, "turns": call.turns.all(), "events": call.events.all(),
               "handoff": call_handoff(call_id=call.pk)}
    if request.htmx and request.GET.get("part") == "summary":
        return render(request, "calls/call_detail.html#summary", context)
    return render(request, "calls/call_detail.html", context)


@login_required
@permission_required("calls.view_call", raise_exception=True)
@require_GET
def call_recording(request: HttpRequest, pk: int) -> HttpResponse:
    """The call's recording, to managers and operators only (trainees hold no call permission)."""
    call = get_object_or_404(Call.objects.only("recording"), pk=pk)
    return private_file_response(file=call.recording, filename=f"call-{pk}.wav")


@login_required
@permission_required("calls.add_campaign", raise_exception=True)
@require_POST
def rehearse(request: HttpRequest) -> HttpResponse:
    """Start a simulated campaign of demo contacts; the board shows it live. With no worker, nothing is created."""
    form = RehearsalForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("contacts", [])))
        return redirect("calls:board")
    try:
        campaign = campaign_rehearsal_start(contacts=form.cleaned_data["contacts"], seed=form.cleaned_data["seed"])
    except NoWorker as exc:
        messages.error(request, _("The rehearsal was not started: there is no worker to place its calls. "
                                  "%(reason)s") % {"reason": exc})
        return redirect("calls:board")
    messages.success(request, _("Rehearsal “%(name)s” started: calls go out now.") % {"name": campaign.name})
    return redirect("calls:board")


@login_required
@permission_required("calls.add_campaign", raise_exception=True)
def single_call(request: HttpRequest) -> HttpResponse:
    """One call now from the console (the same as ``POST /api/calls/``); its page follows it live."""
    form = SingleCallForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            call = call_single_start(
                phone=data["phone"], language=data["language"], user=request.user, name=data["name"],
                company=data["company"], timezone_name=data["timezone"], voice=data["voice"],
                script_id=data["script"].pk if data["script"] else None, greeting=data["greeting"],
                provider=data["telephony_provider"],
            )
        except SingleCallError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Calling %(phone)s.") % {"phone": data["phone"]})
            return redirect("calls:call_detail", pk=call.pk)
    return render(request, "calls/single_call.html", {"form": form}, status=400 if form.errors else 200)
