"""One DRF router for every app's API."""

from rest_framework.routers import DefaultRouter

from calls.api import CallViewSet, CampaignViewSet, ContactListViewSet, ContactViewSet, DoNotCallViewSet
from crm.api import LeadViewSet
from dialogs.api import ScriptViewSet
from training.api import ScenarioViewSet, TrainingSessionViewSet

router = DefaultRouter()
router.register("scripts", ScriptViewSet, basename="script")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("contact-lists", ContactListViewSet, basename="contactlist")
router.register("contacts", ContactViewSet, basename="contact")
router.register("do-not-call", DoNotCallViewSet, basename="donotcall")
router.register("calls", CallViewSet, basename="call")
router.register("scenarios", ScenarioViewSet, basename="scenario")
router.register("training-sessions", TrainingSessionViewSet, basename="trainingsession")
router.register("leads", LeadViewSet, basename="lead")
