from django.urls import path

from calls import views, webhooks

app_name = "calls"
urlpatterns = [
    path("", views.board, name="board"),
    path("<int:pk>/", views.call_detail, name="call_detail"),
    path("<int:pk>/recording/", views.call_recording, name="call_recording"),
    path("rehearse/", views.rehearse, name="rehearse"),
    path("single/", views.single_call, name="single_call"),
    path("telephony/twilio/status/<int:call_id>/", webhooks.twilio_status, name="twilio_status"),
    path("telephony/twilio/amd/<int:call_id>/", webhooks.twilio_amd, name="twilio_amd"),
    path("telephony/voximplant/status/<int:call_id>/", webhooks.voximplant_status, name="voximplant_status"),
]
