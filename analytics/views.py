"""Analytics pages: the call dashboard with its HTMX partials, experiments, the trainer leaderboard, exports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics import exports
from analytics.experiments import experiment_results
from analytics.filters import FilterForm, default_filters
from analytics.selectors import call_analytics_cached, leaderboard, other_intents, team_summary, training_export_rows
from calls.experiments import experiment_stop
from calls.models import Experiment
from training.models import Trainee
from training.selectors import progress_chart, sessions_visible_to

VIEW_ANALYTICS = "analytics.view_call_analytics"
EXPORT = "analytics.export_data"


def _filters(request: HttpRequest):
    defaults = default_filters()
    form = FilterForm(request.GET or None, initial={"date_from": defaults.date_from, "date_to": defaults.date_to})
    if form.is_bound and form.is_valid():
        return form, form.filters()
    return form, defaults


def _chart_data(data) -> dict:
    return {
        "trend": {
            "labels": [d.day.isoformat() for d in data.trend],
            "calls": [d.calls for d in data.trend],
            "connect": [d.connect_rate for d in data.trend],
            "talk": [d.talk_rate for d in data.trend],
            "interest": [d.interest_rate for d in data.trend],
            "lead": [d.lead_rate for d in data.trend],
            "names": {"calls": _("Calls"), "connect": _("Connect rate") + ", %", "talk": _("Talk rate") + ", %",
                      "interest": _("Interest rate") + ", %", "lead": _("Lead rate") + ", %"},
        },
        "funnel": {"labels": [s.label for s in data.funnel()], "counts": [s.count for s in data.funnel()],
                   "shares": [s.share for s in data.funnel()], "name": _("Calls")},
    }


@login_required
@permission_required(VIEW_ANALYTICS, raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    data = call_analytics_cached(filters=filters)
    context = {"form": form, "filters": filters, "data": data, "kpis": data.kpis(), "charts": _chart_data(data),
               "query": filters.querystring()}
    if request.htmx:
        return render(request, "analytics/dashboard.html#body", context)
    context.update({"summary": team_summary(), "leaders": leaderboard()})
    return render(request, "analytics/dashboard.html", context)


@login_required
@permission_required(VIEW_ANALYTICS, raise_exception=True)
def other_intents_partial(request: HttpRequest) -> HttpResponse:
    _form, filters = _filters(request)
    return render(request, "analytics/_other_intents.html", {"rows": other_intents(filters=filters)})


@login_required
@permission_required(VIEW_ANALYTICS, raise_exception=True)
def experiments(request: HttpRequest) -> HttpResponse:
    rows = Experiment.objects.select_related("campaign", "winner").prefetch_related("variants__script")
    return render(request, "analytics/experiments.html", {"experiments": rows})


@login_required
@permission_required(VIEW_ANALYTICS, raise_exception=True)
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.select_related("campaign__script", "winner"), pk=pk)
    return render(request, "analytics/experiment.html",
                  {"experiment": experiment, "results": experiment_results(experiment=experiment)})


@login_required
@permission_required(["calls.change_experiment", "calls.change_campaign"], raise_exception=True)
@require_POST
def experiment_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment, pk=pk)
    promote = request.POST.get("promote") or ""
    try:
        experiment = experiment_stop(experiment_id=experiment.pk,
                                     promote_variant_id=int(promote) if promote.isdigit() else None)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if experiment.winner_id:
            messages.success(request, _("Experiment stopped; the campaign now uses “%(script)s”.")
                             % {"script": experiment.winner.script.name})
        else:
            messages.success(request, _("Experiment stopped."))
    return redirect("analytics:experiment", pk=experiment.pk)


@login_required
@permission_required(EXPORT, raise_exception=True)
def export(request: HttpRequest, kind: str, fmt: str) -> HttpResponse:
    form = FilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(" ".join(str(e) for errs in form.errors.values() for e in errs), status=400,
                            content_type="text/plain; charset=utf-8")
    filters = form.filters() if form.is_bound else default_filters()
    return exports.export_response(kind=kind, fmt=fmt, filters=filters, request=request)


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def training_leaderboard(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/training.html", {"leaders": leaderboard(limit=200)})


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def trainee_progress(request: HttpRequest, pk: int) -> HttpResponse:
    trainee = get_object_or_404(Trainee.objects.select_related("user"), pk=pk)
    sessions = sessions_visible_to(user=request.user).filter(trainee=trainee).select_related("score")[:200]
    return render(
        request,
        "analytics/trainee.html",
        {"trainee": trainee, "chart": progress_chart(trainee=trainee), "sessions": sessions},
    )


@login_required
@permission_required(["training.view_score", "training.view_trainee"], raise_exception=True)
def training_csv(request: HttpRequest) -> StreamingHttpResponse:
    trainee_id = request.GET.get("trainee")
    rows = training_export_rows(trainee_id=int(trainee_id) if trainee_id and trainee_id.isdigit() else None)
    return exports.csv_response(rows, filename="training-sessions.csv")
