from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("", views.board, name="board"),
    path("<int:pk>/", views.call_detail, name="call_detail"),
]
