from django.urls import path

from . import views

urlpatterns = [
    path("aftership/webhook/tracking", views.AfterShipTrackingWebhook.as_view(), name="aftership-tracking-webhook"),
    path("odoo/webhook/picking", views.OdooPickingWebhook.as_view(), name="odoo-picking-webhook"),
]
