from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("training/", views.training_leaderboard, name="training"),
    path("training/trainees/<int:pk>/", views.trainee_progress, name="trainee_progress"),
    path("training/export.csv", views.training_csv, name="training_csv"),
]
