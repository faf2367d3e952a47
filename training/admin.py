from django.contrib import admin

from training.models import Scenario, Score, SessionTurn, Trainee, TrainingSession


@admin.register(Trainee)
class TraineeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "created_at"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "team"]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["title", "language", "difficulty", "persona", "mode", "is_active"]
    list_filter = ["language", "difficulty", "mode", "is_active"]
    search_fields = ["title", "product_description"]


class SessionTurnInline(admin.TabularInline):
    model = SessionTurn
    fields = ["index", "speaker", "text", "interrupted", "voice_to_voice_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(TrainingSession)
class TrainingSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "trainee", "scenario", "difficulty", "status", "created_at"]
    list_filter = ["status", "difficulty", "language"]
    readonly_fields = ["status", "started_at", "ended_at", "end_reason"]
    inlines = [SessionTurnInline]


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["session", "total", "created_at"]
