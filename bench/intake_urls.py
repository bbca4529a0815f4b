"""The portal's URLs and `/bench/bare`: a DRF view that only answers 200, the yardstick of the intake."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.urls import urlpatterns as portal_urls


class Bare(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []
    throttle_classes: list = []

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/bare", Bare.as_view()), *portal_urls]
