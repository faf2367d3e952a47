from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("", views.home, name="home"),
    path("history/", views.history, name="history"),
    path("start/", views.session_start, name="session_start"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/live/", views.session_live, name="session_live"),
    path("sessions/<int:pk>/review/", views.session_review, name="session_review"),
    path("sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("sessions/<int:pk>/rescore/", views.session_rescore, name="session_rescore"),
    path("sessions/<int:pk>/audio/", views.session_audio, name="session_audio"),
    path("sessions/<int:pk>/elevenlabs/signed-url/", views.elevenlabs_signed_url, name="elevenlabs_signed_url"),
    path("sessions/<int:pk>/transcript/", views.session_transcript, name="session_transcript"),
]
