from django.urls import path

from calls import views, webhooks

app_name = "calls"
urlpatterns = [
    path("", views.board, name="board"),
    path("<int:pk>/", views.call_detail, name="call_detail"),
    path("rehearse/", views.rehearse, name="rehearse"),
    path("single/", views.single_call, name="single_call"),
    path("telephony/twilio/status/<int:call_id>/", webhooks.twilio_status, name="twilio_status"),
    path("telephony/voximplant/status/<int:call_id>/", webhooks.voximplant_status, name="voximplant_status"),
]
