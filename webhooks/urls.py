from django.urls import path

from . import views

urlpatterns = [
    path("odoo/webhook/picking", views.OdooPickingWebhook.as_view(), name="odoo-picking-webhook"),
]
