from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("other-intents/", views.other_intents_partial, name="other_intents"),
    path("experiments/", views.experiments, name="experiments"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment"),
    path("experiments/<int:pk>/stop/", views.experiment_stop_view, name="experiment_stop"),
    path("export/<str:kind>.<str:fmt>", views.export, name="export"),
    path("training/", views.training_leaderboard, name="training"),
    path("training/trainees/<int:pk>/", views.trainee_progress, name="trainee_progress"),
    path("training/export.csv", views.training_csv, name="training_csv"),
]
