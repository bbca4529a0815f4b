"""A faithful simulator of AfterShip's Tracking API (2026-07) and its webhook delivery."""

from __future__ import annotations

from .server import AfterShipSimulator

__all__ = ["AfterShipSimulator"]
